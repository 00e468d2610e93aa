# Configure kcsplice's systemd units from contrib/*.service.in, at configure
# time (the build tree's copies, for the test) and again at install time
# (so that `cmake --install --prefix P` names P's kcsplice).
#   KC_SRC     this directory
#   KC_OUT     where the units go
#   KC_BINDIR  the directory of the installed kcsplice
file(READ ${KC_SRC}/sandbox.conf KC_UNIT_SANDBOX)
string(STRIP "${KC_UNIT_SANDBOX}" KC_UNIT_SANDBOX)
foreach(unit kcsplice.service kcsplice@.service)
  configure_file(${KC_SRC}/${unit}.in ${KC_OUT}/${unit} @ONLY)
endforeach()
