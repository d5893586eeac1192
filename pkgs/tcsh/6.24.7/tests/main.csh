source helper.csh
echo "$greeting"
