function w = helper()
  w = "OK";
end
