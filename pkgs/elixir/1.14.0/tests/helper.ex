defmodule Helper do
  def word, do: "OK"
end
