module Main (main) where

import Helper (word)

main :: IO ()
main = putStrLn word
