# Turns a text file (a Lua script) into a C file defining `const char NAME[]`.
# Run as: cmake -DIN=file.lua -DOUT=file.c -DNAME=symbol [-DPRELUDE=lib.lua] -P embed.cmake
# PRELUDE, when given, is put before the script (shared functions).
file(READ "${IN}" content)
if(PRELUDE)
  file(READ "${PRELUDE}" prelude)
  set(content "${prelude}${content}")
endif()
string(REPLACE "\\" "\\\\" content "${content}")
string(REPLACE "\"" "\\\"" content "${content}")
string(REPLACE "\n" "\\n\"\n    \"" content "${content}")
file(WRITE "${OUT}" "/* Generated from ${IN}; edit that file, not this one. */\nconst char ${NAME}[] =\n    \"${content}\";\n")
