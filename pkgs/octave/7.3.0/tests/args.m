args = argv();
disp(strjoin(args', "|"));
