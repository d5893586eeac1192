with Ada.Text_IO; use Ada.Text_IO;

procedure Stdin is
   Line : constant String := Get_Line;
begin
   Put_Line ("OK " & Line);
end Stdin;
