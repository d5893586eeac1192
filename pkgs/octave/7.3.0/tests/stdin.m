line = fgetl(stdin);
printf("OK %s\n", line);
