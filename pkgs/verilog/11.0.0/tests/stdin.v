// Reads one line from STDIN (fd 32'h8000_0000) and prints "OK " followed by it.
module stdin_echo;
  reg [8*256-1:0] line;
  integer n;
  initial begin
    line = 0;
    n = $fgets(line, 32'h8000_0000);
    if (line[7:0] == "\n")
      line = line >> 8;
    $display("OK %0s", line);
    $finish;
  end
endmodule
