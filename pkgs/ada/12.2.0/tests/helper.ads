package Helper is
   function Word return String is ("OK");
end Helper;
