set x = o
echo "$x:u"K
