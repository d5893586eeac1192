println args.join('|')
