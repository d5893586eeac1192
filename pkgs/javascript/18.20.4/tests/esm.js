import { readFileSync } from "node:fs";
import { word } from "./esm-helper.js";
const line = readFileSync(0, "utf8").split("\n")[0];
console.log(word() + " " + line + " " + process.argv.slice(2).join("|"));
