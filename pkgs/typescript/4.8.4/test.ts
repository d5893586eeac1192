const greeting: string[] = ["O", "K"];
console.log(greeting.join(""));
