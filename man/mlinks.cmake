# Manual page links (MLINKS): every function documented on a page named after
# another function gets a symbolic link to that page, so that "man kc_run_all"
# finds kc_run.3.  Included from man/CMakeLists.txt after the pages themselves
# are installed.
#
# Each entry is "page:link"; both live in ${CMAKE_INSTALL_MANDIR}/man3 and the
# link is relative, so the installed tree can be moved.  DESTDIR and
# "cmake --install --prefix" are honoured: the destination is computed at
# install time.

set(KC_MLINKS
  kc_file.3:kc_file_open.3
  kc_file.3:kc_file_adopt.3
  kc_file.3:kc_file_fd.3
  kc_file.3:kc_file_read.3
  kc_file.3:kc_file_write.3
  kc_file.3:kc_file_readv.3
  kc_file.3:kc_file_writev.3
  kc_file.3:kc_file_read_chain.3
  kc_file.3:kc_file_write_chain.3
  kc_file.3:kc_file_sync.3
  kc_file.3:kc_file_fallocate.3
  kc_file.3:kc_file_statx.3
  kc_file.3:kc_file_cancel.3
  kc_file.3:kc_file_close.3
  kc_file.3:kc_file_uring.3

  kc_bcache.3:kc_bcache_create.3
  kc_bcache.3:kc_bcache_get.3
  kc_bcache.3:kc_bcache_put.3
  kc_bcache.3:kc_bcache_write.3
  kc_bcache.3:kc_bcache_flush.3
  kc_bcache.3:kc_bcache_destroy.3
  kc_bcache.3:kc_bcache_stats.3

  kc_init.3:kc_state.3
  kc_init.3:kc_coalesced.3

  kc_run.3:kc_defer.3
  kc_run.3:kc_defer_after.3
  kc_run.3:kc_queue_init.3
  kc_run.3:kc_enqueue.3
  kc_run.3:kc_run_all.3
  kc_run.3:kc_run_one.3
  kc_run.3:kc_queue_empty.3

  kc_cancel.3:kc_cancel_sync.3

  kc_executor_create.3:kc_executor_shutdown.3
  kc_executor_create.3:kc_executor_close.3
  kc_executor_create.3:kc_executor_current.3
  kc_executor_create.3:kc_executor_stats.3
  kc_executor_create.3:kc_next.3

  kc_pool_create.3:kc_pool_destroy.3
  kc_pool_create.3:kc_alloc.3
  kc_pool_create.3:kc_free.3
  kc_pool_create.3:kc_pool_inuse.3

  kc_wait.3:kc_wait_prepare.3
  kc_wait.3:kc_wait_cancel.3
  kc_wait.3:kc_sleep.3

  kqueue.3:kevent.3
  kqueue.3:EV_SET.3

  kc_chain.3:kc_chain_init.3
  kc_chain.3:kc_chain_free.3
  kc_chain.3:kc_chain_len.3
  kc_chain.3:kc_chain_append.3
  kc_chain.3:kc_chain_prepend.3
  kc_chain.3:kc_chain_append_seg.3
  kc_chain.3:kc_chain_share.3
  kc_chain.3:kc_chain_concat.3
  kc_chain.3:kc_chain_prepend_chain.3
  kc_chain.3:kc_chain_split.3
  kc_chain.3:kc_chain_reserve.3
  kc_chain.3:kc_chain_copyout.3
  kc_chain.3:kc_chain_drop.3
  kc_chain.3:kc_chain_iov.3
  kc_chain.3:kc_chain_room.3
  kc_chain.3:kc_chain_commit.3
  kc_chain.3:kc_chain_read.3
  kc_chain.3:kc_chain_write.3
  kc_chain.3:kc_seg_alloc.3
  kc_chain.3:kc_seg_wrap.3
  kc_chain.3:kc_seg_data.3
  kc_chain.3:kc_seg_size.3
  kc_chain.3:kc_seg_ref.3
  kc_chain.3:kc_seg_unref.3
  kc_chain.3:kc_seg_refs.3

  kc_msg.3:kc_port_init.3
  kc_msg.3:kc_port_close.3
  kc_msg.3:kc_port_env.3
  kc_msg.3:kc_msg_init.3
  kc_msg.3:kc_msg_send.3
  kc_msg.3:kc_msg_do.3
  kc_msg.3:kc_msg_reply.3
  kc_msg.3:kc_msg_forward.3
  kc_msg.3:kc_msg_drop.3
  kc_msg.3:kc_msg_abort.3
  kc_msg.3:kc_msg_aborted.3
  kc_msg.3:kc_msg_done.3
  kc_msg.3:kc_msg_status.3

  kc_socket.3:kc_socket_create.3
  kc_socket.3:kc_socket_adopt.3
  kc_socket.3:kc_socket_bind.3
  kc_socket.3:kc_socket_listen.3
  kc_socket.3:kc_socket_name.3
  kc_socket.3:kc_socket_connect.3
  kc_socket.3:kc_socket_accept.3
  kc_socket.3:kc_socket_send.3
  kc_socket.3:kc_socket_recv.3
  kc_socket.3:kc_socket_upcall.3
  kc_socket.3:kc_socket_recv_wait.3
  kc_socket.3:kc_socket_send_wait.3
  kc_socket.3:kc_socket_accept_wait.3
  kc_socket.3:kc_socket_connect_wait.3
  kc_socket.3:kc_socket_shutdown.3
  kc_socket.3:kc_socket_close.3
  kc_socket.3:kc_socket_state.3
  kc_socket.3:kc_socket_error.3
  kc_socket.3:kc_socket_rcvbytes.3
  kc_socket.3:kc_socket_sndbytes.3
  kc_socket.3:kc_socket_owner.3
  kc_socket.3:kc_socket_count.3
  kc_socket.3:kc_sockaddr_parse.3
  kc_socket.3:kc_sockaddr_format.3

  kc_splice.3:kc_splice_cancel.3
  kc_splice.3:kc_splice_stats.3
  kc_splice.3:kc_splice_end_info.3
  kc_splice.3:kc_splice_mirror_stats.3
  kc_splice.3:kc_splice_close.3
  kc_splice.3:kc_pipe_stats.3
  kc_splice.3:kc_splice_mirror_cap.3
  kc_splice.3:kc_splice_mirror_mem.3
  kc_splice.3:kc_dgram_relay_create.3
  kc_splice.3:kc_dgram_relay_stats.3
  kc_splice.3:kc_dgram_relay_close.3

  kc_trace_start.3:kc_trace_stop.3
  kc_trace_start.3:kc_trace_flush.3
  kc_trace_start.3:kc_trace_stats.3
  kc_trace_start.3:kc_trace_enabled.3
  kc_trace_start.3:kc_trace_thread_name.3
  kc_trace_start.3:kc_trace_user.3
)

# The man3 directory as seen at install time (relative MANDIRs are taken
# under the install prefix then, not now).
if(IS_ABSOLUTE "${CMAKE_INSTALL_MANDIR}")
  set(_kc_man3 "${CMAKE_INSTALL_MANDIR}/man3")
else()
  set(_kc_man3 "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_MANDIR}/man3")
endif()

foreach(_kc_pair IN LISTS KC_MLINKS)
  string(REPLACE ":" ";" _kc_pair "${_kc_pair}")
  list(GET _kc_pair 0 _kc_page)
  list(GET _kc_pair 1 _kc_link)
  if(NOT EXISTS "${CMAKE_CURRENT_LIST_DIR}/man3/${_kc_page}")
    message(WARNING "mlinks.cmake: ${_kc_link} points to missing page ${_kc_page}")
  endif()
  if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/man3/${_kc_link}")
    message(WARNING "mlinks.cmake: ${_kc_link} is a page of its own; not linked")
    continue()
  endif()
  install(CODE "
    set(_kc_dir \"\$ENV{DESTDIR}${_kc_man3}\")
    file(MAKE_DIRECTORY \"\${_kc_dir}\")
    message(STATUS \"Installing: \${_kc_dir}/${_kc_link} -> ${_kc_page}\")
    execute_process(
      COMMAND \"${CMAKE_COMMAND}\" -E rm -f \"\${_kc_dir}/${_kc_link}\")
    execute_process(
      COMMAND \"${CMAKE_COMMAND}\" -E create_symlink ${_kc_page} \"\${_kc_dir}/${_kc_link}\"
      RESULT_VARIABLE _kc_rc)
    if(NOT _kc_rc EQUAL 0)
      message(FATAL_ERROR \"cannot create \${_kc_dir}/${_kc_link}\")
    endif()
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${_kc_dir}/${_kc_link}\")
  ")
endforeach()

unset(_kc_man3)
unset(_kc_pair)
unset(_kc_page)
unset(_kc_link)
