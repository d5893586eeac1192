puts [join $argv |]
