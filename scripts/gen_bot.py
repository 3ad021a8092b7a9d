#!/usr/bin/env python3
"""Generates a large, valid bot for parse/check benchmarks.

Usage: scripts/gen_bot.py [BLOCKS] > big.scn    (default 20000 blocks, about 8 MB)

Blocks rotate through the shapes real bots are made of (see scenarios/): a menu with buttons, a
question validated with extract and if/elif/else, an HTTP call with a JSON body and status
checks, and a match over the answer with expressions and pipes. Every block is reachable, every
target exists and every http has `on error`, so the bot checks clean.
"""
import sys

blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
w = sys.stdout.write
w('scenario "Generated benchmark bot"\n\n')
w('user %score% = 0\nglobal %visits% = 0\nuser %token% = ""\nuser %answers% = {}\n\n')
w('on start goto b0\non message "/menu" goto b0\non message matches /^step (?P<n>\\d+)$/i goto b0\n\n')

for i in range(blocks):
    nxt = f"b{(i + 1) % blocks}"
    alt = f"b{(i * 7 + 3) % blocks}"
    kind = i % 4
    if kind == 0:
        w(f"""# Step {i}: a menu.
block b{i} {{
  say "Hello, %user_name%! This is step {i}. What would you like to do?" {{
    button "Continue" goto {nxt}
    button "Start over" goto b0
    link "Help centre" "https://help.example.com/steps/{i}"
  }}
  wait
  goto {alt}
}}

""")
    elif kind == 1:
        w(f"""# Step {i}: a question with validation.
block b{i} {{
  say "How many items do you need for order {i}?"
  wait -> %answer%
  extract integer from %answer% -> %qty% else goto {alt}
  if %qty% > 100 {{
    say "That is a lot! Our team will call you about {{{{ %qty% }}}} items."
  }} elif %qty% == 0 {{
    say "Zero items? Let's try again."
  }} else {{
    set %score% += %qty% * 2
  }}
  goto {nxt}
}}

""")
    elif kind == 2:
        w(f"""# Step {i}: an API call.
block b{i} {{
  http POST "https://api.example.com/orders/{i}/items?user=%user_id%" {{
    header Authorization: "Bearer %token%"
    json {{"step": {i}, "qty": %qty%, "name": "%user_name%"}}
    timeout 5s
    on error goto {alt}
  }}
  if %status% == 200 {{
    say "Saved: {{{{ %body.items% | len() }}}} items in your cart."
  }}
  goto {nxt}
}}

""")
    else:
        w(f"""# Step {i}: choices.
block b{i} {{
  say "Shall I add item {i} to your order?"
  wait
  match %message% {{
    "yes", "да" => {{ set %answers%[str({i})] = true; goto {nxt} }}
    like "no" => goto {alt}
    else => say "Please answer yes or no, %user_name%."
  }}
  goto {nxt}
}}

""")
