import helper

echo word()
