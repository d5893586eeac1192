import { EOL } from "node:os";
process.stdout.write("OK" + EOL);
