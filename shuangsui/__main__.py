from shuangsui.cli import main

main()
