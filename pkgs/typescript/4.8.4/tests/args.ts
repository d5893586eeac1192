const args: string[] = process.argv.slice(2);
console.log(args.join("|"));
