@include "helper.awk"
BEGIN { print word() }
