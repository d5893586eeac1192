say @*ARGS.join('|');
