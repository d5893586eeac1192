const parts = ["O", "K"];
console.log(parts.join(""));
