// The top module instantiates helper (helper.v).
module main;
  wire [15:0] word;
  helper h(.word(word));
  initial begin
    #1 $display("%s", word);
    $finish;
  end
endmodule
