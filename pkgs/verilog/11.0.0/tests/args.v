// Prints the arguments (+argc=N, +argI=VALUE) joined by "|".
module args;
  reg [8*256-1:0] arg;
  reg [8*16-1:0] key;
  integer n, i;
  initial begin
    if (!$value$plusargs("argc=%d", n))
      n = 0;
    for (i = 1; i <= n; i = i + 1) begin
      $sformat(key, "arg%0d=%%s", i);
      arg = 0;
      if ($value$plusargs(key, arg)) begin
        if (i > 1)
          $write("|");
        $write("%0s", arg);
      end
    end
    $write("\n");
    $finish;
  end
endmodule
