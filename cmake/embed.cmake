# Turns a text file (a Lua script) into a C file defining `const char NAME[]`.
# Run as: cmake -DIN=file.lua -DOUT=file.c -DNAME=symbol -P embed.cmake
file(READ "${IN}" content)
string(REPLACE "\\" "\\\\" content "${content}")
string(REPLACE "\"" "\\\"" content "${content}")
string(REPLACE "\n" "\\n\"\n    \"" content "${content}")
file(WRITE "${OUT}" "/* Generated from ${IN}; edit that file, not this one. */\nconst char ${NAME}[] =\n    \"${content}\";\n")
