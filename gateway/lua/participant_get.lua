-- participant_get.lua: participant ARGV[1]'s record (see lib_participant.lua,
-- put before this), or nil.
return (participant_record(ARGV[1])) or false
