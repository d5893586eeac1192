module Helper
  def self.greet
    "O" + "K"
  end
end
