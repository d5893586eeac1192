main :: IO ()
main = do
  line <- getLine
  putStrLn ("OK " ++ line)
