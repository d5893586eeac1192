module helper(output [15:0] word);
  assign word = "OK";
endmodule
