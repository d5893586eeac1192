unit Helper;

interface

function Word: string;

implementation

function Word: string;
begin
  Word := 'OK';
end;

end.
