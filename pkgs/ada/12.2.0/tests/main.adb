with Ada.Text_IO;
with Helper;

procedure Main is
begin
   Ada.Text_IO.Put_Line (Helper.Word);
end Main;
