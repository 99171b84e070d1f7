# pc.cmake: write libsock.pc for a prefix. Run at install time (install(CODE) includes it), so
# `cmake --install --prefix P` gets a .pc that names P, not the prefix configured earlier.
# In: SOCK_PC_IN, SOCK_PC_OUT, CMAKE_INSTALL_PREFIX, SOCK_LIBDIR, SOCK_INCLUDEDIR (relative to
# the prefix, or absolute), PROJECT_VERSION.
set(SOCK_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${SOCK_${kind}}")
    set(SOCK_PC_${kind} "${SOCK_${kind}}")
  else()
    set(SOCK_PC_${kind} "\${prefix}/${SOCK_${kind}}")
  endif()
endforeach()
configure_file("${SOCK_PC_IN}" "${SOCK_PC_OUT}" @ONLY)
