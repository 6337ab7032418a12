# Turns a text file (a Lua script) into a C file defining `const char NAME[]`.
# Run as: cmake -DIN=file.lua -DOUT=file.c -DNAME=symbol [-DPRELUDE=a.lua|b.lua] -P embed.cmake
# PRELUDE, when given, is one or more files (joined by '|') put before the script,
# in that order (shared functions).
file(READ "${IN}" content)
if(PRELUDE)
  string(REPLACE "|" ";" libs "${PRELUDE}")
  set(prelude "")
  foreach(lib ${libs})
    file(READ "${lib}" text)
    string(APPEND prelude "${text}")
  endforeach()
  set(content "${prelude}${content}")
endif()
string(REPLACE "\\" "\\\\" content "${content}")
string(REPLACE "\"" "\\\"" content "${content}")
string(REPLACE "\n" "\\n\"\n    \"" content "${content}")
file(WRITE "${OUT}" "/* Generated from ${IN}; edit that file, not this one. */\nconst char ${NAME}[] =\n    \"${content}\";\n")
