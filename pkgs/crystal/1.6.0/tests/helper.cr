module Helper
  def self.word
    "OK"
  end
end
