% helper() is found in helper.m beside this script (the current directory).
disp(helper());
