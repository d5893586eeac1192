module test;
  initial begin
    $display("OK");
    $finish;
  end
endmodule
