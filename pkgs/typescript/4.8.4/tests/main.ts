import { word } from "./helper";

console.log(word());
