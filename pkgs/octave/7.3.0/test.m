x = [1 2; 3 4];
if isequal(x * inv(x), eye(2)) || norm(x * inv(x) - eye(2)) < 1e-12
  disp("OK")
end
