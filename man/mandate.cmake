# Write a manual page with its date (.Dd) set: the source says
# ".Dd $Mdocdate$", the copy built and installed says when the page last
# changed.  cmake -DSRC=page -DOUT=copy [-DGIT=git] -P mandate.cmake
#
# The date is, in this order:
#   - the page is in a git work tree and has no change since its last
#     commit: that commit's date;
#   - the page is changed, or new, in a git work tree: the file's own
#     modification time (the page as built is not that of any commit);
#   - no git: SOURCE_DATE_EPOCH if set (a release's date, for
#     reproducible builds), else the file's modification time.
# The copy is rewritten only when it would change.
get_filename_component(dir ${SRC} DIRECTORY)
set(epoch "")
set(intree FALSE)
if(GIT)
  execute_process(COMMAND ${GIT} -C ${dir} rev-parse --is-inside-work-tree
    OUTPUT_VARIABLE inside RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET)
  if(rc EQUAL 0 AND inside STREQUAL "true")
    set(intree TRUE)
    execute_process(COMMAND ${GIT} -C ${dir} status --porcelain -- ${SRC}
      OUTPUT_VARIABLE changed RESULT_VARIABLE rc ERROR_QUIET)
    if(rc EQUAL 0 AND changed STREQUAL "")
      execute_process(COMMAND ${GIT} -C ${dir} log -1 --format=%ct -- ${SRC}
        OUTPUT_VARIABLE epoch RESULT_VARIABLE rc
        OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(NOT rc EQUAL 0)
        set(epoch "")
      endif()
    endif()
  endif()
endif()
if(epoch STREQUAL "" AND NOT intree AND DEFINED ENV{SOURCE_DATE_EPOCH})
  set(epoch "$ENV{SOURCE_DATE_EPOCH}")
endif()
if(epoch MATCHES "^[0-9]+$")
  # string(TIMESTAMP) formats SOURCE_DATE_EPOCH when it is set.
  set(saved "$ENV{SOURCE_DATE_EPOCH}")
  set(ENV{SOURCE_DATE_EPOCH} "${epoch}")
  string(TIMESTAMP date "%B %d, %Y" UTC)
  set(ENV{SOURCE_DATE_EPOCH} "${saved}")
else()
  file(TIMESTAMP ${SRC} date "%B %d, %Y" UTC)
endif()
string(REGEX REPLACE " 0([1-9]), " " \\1, " date "${date}")
if(NOT date MATCHES "^[A-Z][a-z]+ [1-9][0-9]?, [0-9][0-9][0-9][0-9]$")
  message(FATAL_ERROR "mandate: no date for ${SRC} ('${date}')")
endif()

file(READ ${SRC} page)
if(NOT page MATCHES "^\\.Dd \\$Mdocdate\\$\n")
  message(FATAL_ERROR "mandate: ${SRC} does not begin with .Dd $Mdocdate$")
endif()
string(REGEX REPLACE "^\\.Dd \\$Mdocdate\\$\n" ".Dd ${date}\n" page "${page}")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL page)
  file(WRITE ${OUT} "${page}")
endif()
