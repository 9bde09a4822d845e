# The trine command-line tool (tools/), built on the public API only.
file(GLOB TRINE_CLI_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools/*.c)
add_executable(trine_cli ${TRINE_CLI_SOURCES})
set_target_properties(trine_cli PROPERTIES OUTPUT_NAME trine)
target_compile_options(trine_cli PRIVATE ${TRINE_WARNINGS})
target_link_libraries(trine_cli PRIVATE trine_static)
install(TARGETS trine_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
