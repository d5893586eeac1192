puts [string cat O K]
