import json
D = {"name": "Guest Book", "n": 3, "f": 1.5, "big": 123456789, "mil": 1000000, "t": True, "fl": False,
     "e": None, "s": "hello world", "empty": "", "l": ["a", "b", "c"], "nums": [3, 1, 2], "el": [],
     "m": {"b": 2, "a": "x", "c": [1, 2]}, "em": {},
     "path": {"path": "apps/guestbook", "basename": "guestbook", "segments": ["apps", "guestbook"]},
     "values": {"replicas": 2, "image": {"tag": "v1.0", "repo": "nginx"}, "ports": [80, 443], "note": "multi\nline", "flag": "true", "yes": "yes", "quoted": "a: b", "sp": " lead"},
     "cluster": "in-cluster", "url": "https://kubernetes.default.svc", "neg": -7, "zero": 0, "nested": {"a": {"b": {"c": "deep"}}}, "ver": "1.2.3"}
cases = []
def c(t, opt=None, data=D):
    x = {"template": t, "data": data}
    if opt: x["option"] = opt
    cases.append(x)
T = [
 # text, actions, trimming, comments
 "plain text", "{{.name}}", "a {{- \" b \" -}} c", "a  {{- .n}}  b", "{{.n -}}  \n  x", "{{/* comment */}}x", "a {{- /* c */ -}} b",
 "{{- 3 }}", "{{-3}}", "{{ 3 -}}", "x\n{{- .name }}\n",
 # literals
 "{{ 3 }}", "{{ 3.0 }}", "{{ 1e3 }}", "{{ 0x1F }}", "{{ 0o17 }}", "{{ 017 }}", "{{ 0b101 }}", "{{ 1_000 }}", "{{ -5 }}", "{{ +5 }}", "{{ 'a' }}", "{{ '\\n' }}",
 "{{ \"a\\tb\" }}", "{{ `raw\\n` }}", "{{ true }}", "{{ false }}", "{{ nil }}", "{{ .5 }}", "{{ 1.5e-7 }}", "{{ 3x }}",
 # fields
 "{{ .path.basename }}", "{{ index .path.segments 1 }}", "{{ .m }}", "{{ .l }}", "{{ .nums }}", "{{ .f }}", "{{ .big }}", "{{ .mil }}", "{{ .n }}", "{{ .neg }}",
 "{{ .e }}", "{{ .missing }}", "{{ .missing.deeper }}", "{{ .e.x }}", "{{ .s.x }}", "{{ .nested.a.b.c }}", "{{ . }}", "{{ .em }}", "{{ .el }}", "{{ $ }}",
 "{{ .nested.a }}", "{{ .m.c }}", "{{ (index .l 0) }}", "{{ (.nested.a).b.c }}",
 # variables
 "{{ $x := 1 }}{{ $x }}", "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "{{ $x := .name }}{{ if true }}{{ $x = \"in\" }}{{ end }}{{ $x }}",
 "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}", "{{ $y }}", "{{ $.name }}", "{{ range .l }}{{ $.n }}{{ end }}",
 # pipelines
 "{{ .name | lower }}", "{{ .name | lower | upper }}", "{{ 3 | printf \"%d-%d\" 4 }}", "{{ .name | printf \"%s!\" }}", "{{ \"x\" | 3 }}", "{{ .name | .s }}",
 # if/else
 "{{ if .t }}yes{{ end }}", "{{ if .fl }}yes{{ else }}no{{ end }}", "{{ if .zero }}a{{ else if .n }}b{{ else }}c{{ end }}",
 "{{ if .missing }}a{{ else }}b{{ end }}", "{{ if .e }}a{{ else }}b{{ end }}", "{{ if .el }}a{{ else }}b{{ end }}", "{{ if .em }}a{{ else }}b{{ end }}",
 "{{ if .empty }}a{{ else }}b{{ end }}", "{{ if $x := .n }}{{ $x }}{{ end }}", "{{ if }}{{ end }}", "{{ if .t }}", "{{ else }}", "{{ end }}",
 # with
 "{{ with .path }}{{ .basename }}{{ end }}", "{{ with .missing }}a{{ else }}b{{ end }}", "{{ with .zero }}a{{ else with .n }}{{ . }}{{ end }}", "{{ with $x := .s }}{{ $x }}{{ end }}",
 # range
 "{{ range .l }}[{{ . }}]{{ end }}", "{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}", "{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}",
 "{{ range $v := .m }}{{ $v }};{{ end }}", "{{ range .el }}x{{ else }}none{{ end }}", "{{ range .missing }}x{{ else }}none{{ end }}", "{{ range 3 }}{{ . }}{{ end }}",
 "{{ range $i := 3 }}{{ $i }}{{ end }}", "{{ range .n }}{{ . }}{{ end }}", "{{ range .s }}{{ . }}{{ end }}", "{{ range .l }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}",
 "{{ range .l }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}", "{{ break }}", "{{ range 0 }}x{{ else }}empty{{ end }}", "{{ range $i, $v := 3 }}{{ end }}",
 "{{ range $i, $e := .l }}{{ if $i }},{{ end }}{{ $e }}{{ end }}",
 # define/template/block
 "{{ define \"x\" }}X{{ . }}{{ end }}{{ template \"x\" .n }}", "{{ define \"x\" }}X{{ end }}{{ template \"x\" }}", "{{ template \"nope\" }}",
 "{{ block \"b\" .name }}[{{ . }}]{{ end }}", "{{ define \"r\" }}{{ if . }}{{ . }}{{ template \"r\" (sub . 1) }}{{ end }}{{ end }}{{ template \"r\" 3 }}",
 "{{ define \"x\" }}{{ .missing }}{{ end }}{{ template \"x\" . }}", "{{ if true }}{{ define \"x\" }}{{ end }}{{ end }}",
 # builtins
 "{{ and 1 0 2 }}", "{{ and 1 2 }}", "{{ or 0 \"\" }}", "{{ or 0 \"x\" 2 }}", "{{ not 0 }}", "{{ not .l }}", "{{ and }}", "{{ and .missing 1 }}",
 "{{ len .l }}", "{{ len .s }}", "{{ len .m }}", "{{ len 3 }}", "{{ len .missing }}", "{{ index .l 2 }}", "{{ index .l 5 }}", "{{ index .m \"a\" }}", "{{ index .m \"zz\" }}",
 "{{ index .nested \"a\" \"b\" \"c\" }}", "{{ index .s 1 }}", "{{ index .n 1 }}", "{{ index .l 1.0 }}", "{{ index .l \"x\" }}", "{{ index .missing 1 }}", "{{ index .l }}", "{{ index .l (len .l) }}",
 "{{ eq 1 1 }}", "{{ eq .n 3.0 }}", "{{ eq .n 3 }}", "{{ eq .name \"Guest Book\" }}", "{{ eq .name \"a\" \"Guest Book\" }}", "{{ eq .t true }}", "{{ eq .l .l }}", "{{ eq .missing \"x\" }}",
 "{{ eq .e nil }}", "{{ eq 1 }}", "{{ ne 1 2 }}", "{{ ne \"a\" \"a\" }}", "{{ lt 1 2 }}", "{{ lt .f 2.0 }}", "{{ lt .f 2 }}", "{{ lt \"a\" \"b\" }}", "{{ le 2 2 }}", "{{ gt 3 2 }}", "{{ ge 1 2 }}", "{{ lt true false }}", "{{ lt .l 1 }}",
 "{{ print 1 2 }}", "{{ print \"a\" \"b\" }}", "{{ print \"a\" 1 \"b\" }}", "{{ print 1 \"a\" 2 }}", "{{ print .e }}", "{{ print .missing }}", "{{ print .m .l }}", "{{ println 1 \"a\" }}", "{{ print }}",
 "{{ html \"<a href='x'>&\\\"\" }}", "{{ js \"it's <b> & \\\"q\\\" = \\n\" }}", "{{ urlquery \"a b&c=d/é\" }}", "{{ html 1 2 }}", "{{ call .n }}",
 # printf
 "{{ printf \"%v|%s|%d|%q|%t\" .n .name 42 .name true }}", "{{ printf \"%d\" .n }}", "{{ printf \"%s\" 3 }}", "{{ printf \"%f|%.2f|%.0f|%e|%g|%G\" .f .f 2.5 1234.5678 0.000012 1e21 }}",
 "{{ printf \"%x|%X|%o|%b|%#x|%c|%U\" 255 255 8 5 255 65 65 }}", "{{ printf \"%05d|%-5d|%5d|%+d|% d\" 42 42 42 42 42 }}", "{{ printf \"%5s|%-5s|%.2s|%q\" \"ab\" \"ab\" \"abc\" \"a\\\"b\" }}",
 "{{ printf \"%x\" \"hi\" }}", "{{ printf \"%v\" .m }}", "{{ printf \"%v\" .l }}", "{{ printf \"%q\" .l }}", "{{ printf \"%d\" .nums }}", "{{ printf \"%s\" .e }}", "{{ printf \"%v\" .e }}",
 "{{ printf \"%d %d\" 1 }}", "{{ printf \"%d\" 1 2 }}", "{{ printf \"100%%\" }}", "{{ printf \"%\" }}", "{{ printf \"%z\" 1 }}", "{{ printf \"%6.2f|%-8.3f|%08.3f\" 3.14159 2.5 -2.5 }}", "{{ printf \"%t\" 1 }}",
 "{{ printf \"%v %v %v\" 0.1 100000.0 1234567.0 }}", "{{ printf \"%.3g|%.10g|%g\" 1234.5678 1.0 100000000.0 }}", "{{ printf \"%*d\" 5 42 }}", "{{ printf \"%s\" .l }}",
 # parse errors
 "{{ nosuch 1 }}", "{{ env \"HOME\" }}", "{{ expandenv \"$HOME\" }}", "{{ getHostByName \"example.com\" }}", "{{", "{{ .name", "{{ \"unterminated }}", "{{ ( }}", "{{ ) }}", "{{ .a | 3 }}",
 "{{ $x := }}", "{{ range $a, $b, $c := .l }}{{ end }}", "{{ if .t }}x{{ else }}y{{ else }}z{{ end }}", "{{ define \"a\" }}{{ end }}{{ define \"a\" }}x{{ end }}",
 "{{ .name . }}", "{{ nil }}", "{{ 1 2 }}", "{{ .l.0 }}", "{{ printf }}", "{{ upper }}", "{{ upper 1 2 }}", "{{/* unclosed", "{{ continue }}",
 # missing keys in functions
 "{{ upper .missing }}", "{{ upper .n }}", "{{ upper 3 }}", "{{ upper nil }}", "{{ repeat .n \"x\" }}", "{{ repeat 3.0 \"x\" }}", "{{ repeat 3.5 \"x\" }}", "{{ .missing | default \"d\" }}", "{{ upper .e }}",
 # sprig strings
 "{{ trim \"  a b  \" }}", "{{ trimAll \"$\" \"$$5.00$\" }}", "{{ trimPrefix \"ap\" \"apps\" }}", "{{ trimSuffix \"s\" \"apps\" }}", "{{ upper \"abc\" }}", "{{ lower \"ABC\" }}",
 "{{ title \"hello world-foo bar_baz\" }}", "{{ untitle \"Hello World\" }}", "{{ repeat 3 \"ab\" }}", "{{ substr 0 5 \"hello world\" }}", "{{ substr 6 -1 \"hello world\" }}", "{{ substr -1 3 \"hello\" }}",
 "{{ nospace \"a b\\tc\" }}", "{{ trunc 5 \"hello world\" }}", "{{ trunc -5 \"hello world\" }}", "{{ trunc 50 \"hi\" }}", "{{ abbrev 5 \"hello world\" }}", "{{ abbrevboth 5 10 \"1234 5678 9123\" }}",
 "{{ initials \"First Try\" }}", "{{ contains \"cat\" \"catch\" }}", "{{ hasPrefix \"cat\" \"catch\" }}", "{{ hasSuffix \"ch\" \"catch\" }}", "{{ quote \"a\" 1 .e \"b\\\"\" }}", "{{ squote \"a\" 1 }}",
 "{{ cat \"a\" 1 .e \"b\" }}", "{{ indent 4 \"a\\nb\" }}", "{{ nindent 2 \"a\\nb\" }}", "{{ replace \" \" \"-\" \"a b c\" }}", "{{ plural \"one\" \"many\" 1 }}", "{{ plural \"one\" \"many\" 2 }}",
 "{{ snakecase \"FirstName\" }}", "{{ snakecase \"HTTPServer\" }}", "{{ camelcase \"http_server\" }}", "{{ kebabcase \"FirstName\" }}", "{{ swapcase \"This Is A.Test\" }}", "{{ wrap 5 \"Hello World Foo\" }}",
 "{{ wrapWith 5 \"\\t\" \"Hello World\" }}", "{{ splitList \",\" \"a,b,c\" }}", "{{ split \"$\" \"foo$bar$baz\" }}", "{{ (split \"$\" \"foo$bar\")._1 }}", "{{ splitn \"$\" 2 \"foo$bar$baz\" }}",
 "{{ join \"-\" .l }}", "{{ join \",\" .nums }}", "{{ join \"-\" \"x\" }}", "{{ sortAlpha .l }}", "{{ sortAlpha (list \"b\" \"a\" 3) }}", "{{ toString 3 }}", "{{ toString .f }}", "{{ toStrings (list 1 \"a\" .e) }}", "{{ splitList \"\" \"abc\" }}",
 # regex
 "{{ regexMatch \"^[a-z]+$\" \"abc\" }}", "{{ regexMatch \"[\" \"abc\" }}", "{{ mustRegexMatch \"[\" \"abc\" }}", "{{ regexFind \"[a-z]+\" \"123abc456def\" }}", "{{ regexFindAll \"[0-9]\" \"a1b2c3\" -1 }}",
 "{{ regexFindAll \"[0-9]\" \"a1b2c3\" 2 }}", "{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"${1}W\" }}", "{{ regexReplaceAllLiteral \"a(x*)b\" \"-ab-axxb-\" \"${1}\" }}", "{{ regexSplit \"z+\" \"pizza\" -1 }}",
 "{{ regexSplit \"z+\" \"pizza\" 1 }}", "{{ regexQuoteMeta \"1.2.3+[x]\" }}", "{{ regexReplaceAll \"(\" \"x\" \"y\" }}",
 # defaults & flow
 "{{ default \"foo\" .missing }}", "{{ default \"foo\" \"bar\" }}", "{{ default \"foo\" .zero }}", "{{ default \"foo\" .el }}", "{{ default 3 .f }}", "{{ empty .em }}", "{{ empty 0 }}", "{{ empty \"x\" }}", "{{ empty .missing }}",
 "{{ coalesce .missing .empty \"x\" }}", "{{ coalesce .missing }}", "{{ all 1 \"a\" .t }}", "{{ all 1 .zero }}", "{{ any 0 \"\" .n }}", "{{ ternary \"a\" \"b\" true }}", "{{ ternary \"a\" \"b\" .fl }}", "{{ fail \"boom\" }}", "{{ required \"x\" .n }}",
 # conversions & math
 "{{ atoi \"42\" }}", "{{ atoi \"x\" }}", "{{ int \"42\" }}", "{{ int .f }}", "{{ int64 \"0x10\" }}", "{{ float64 \"1.5\" }}", "{{ float64 3 }}", "{{ toDecimal \"0777\" }}", "{{ int \"1.5\" }}",
 "{{ add 1 2 3 }}", "{{ add .n 1 }}", "{{ add1 .f }}", "{{ sub 5 .n }}", "{{ div 7 2 }}", "{{ div 1 0 }}", "{{ mod 7 3 }}", "{{ mul 2 3 4 }}", "{{ max 1 5 3 }}", "{{ min 4 2 8 }}", "{{ biggest 1 9 }}",
 "{{ floor 1.7 }}", "{{ ceil 1.2 }}", "{{ round 3.14159 2 }}", "{{ round 2.5 0 }}", "{{ addf 0.1 0.2 }}", "{{ subf 1.5 0.3 }}", "{{ mulf 1.1 3 }}", "{{ divf 1 3 }}", "{{ maxf 1.5 2.5 }}", "{{ minf 1.5 2.5 }}", "{{ add1f 1.5 }}",
 "{{ add \"3\" 1.9 }}", "{{ typeOf (add 1 2) }}", "{{ div 10 .n }}",
 # json & yaml
 "{{ toJson .m }}", "{{ toJson .values }}", "{{ toPrettyJson .m }}", "{{ toRawJson (dict \"a\" \"<b>\") }}", "{{ toJson (dict \"a\" \"<b>&\") }}", "{{ toJson .l }}", "{{ toJson .f }}", "{{ toJson .n }}", "{{ toJson .e }}", "{{ toJson \"s\" }}",
 "{{ (fromJson \"{\\\"a\\\": [1, 2]}\").a }}", "{{ fromJson \"nope\" }}", "{{ mustFromJson \"nope\" }}", "{{ toJson (fromJson \"{\\\"x\\\": 1.0}\") }}",
 "{{ toYaml .values }}", "{{ toYaml .values | nindent 4 }}", "{{ toYaml .l }}", "{{ toYaml .m }}", "{{ toYaml \"s\" }}", "{{ toYaml .n }}", "{{ toYaml .e }}", "{{ toYaml .em }}", "{{ toYaml (list (list 1 2) (dict \"a\" 1 \"b\" (list 3))) }}",
 "{{ toYaml (dict \"k\" \"line1\\nline2\\n\") }}", "{{ toYaml (dict \"n\" \"no\" \"y\" \"on\" \"num\" \"012\" \"f\" \"1.5\" \"dash\" \"- x\" \"colon\" \"a:b\" \"hash\" \"a #b\" \"star\" \"*x\") }}",
 "{{ (fromYaml \"a: 1\\nb: [x, y]\").b }}", "{{ (fromYaml \"a: 1\").a | typeOf }}", "{{ fromYamlArray \"- 1\\n- two\" }}", "{{ (fromYaml \"a:\\n  b: c\").a.b }}",
 # lists
 "{{ list 1 \"a\" .e }}", "{{ first .l }}", "{{ first .el }}", "{{ last .l }}", "{{ rest .l }}", "{{ initial .l }}", "{{ append .l \"d\" }}", "{{ push .l \"d\" }}", "{{ prepend .l \"z\" }}",
 "{{ concat .l .nums }}", "{{ reverse .l }}", "{{ uniq (list 1 1 2 \"a\" \"a\") }}", "{{ without .l \"b\" }}", "{{ has \"b\" .l }}", "{{ has \"z\" .l }}", "{{ has 1 .missing }}", "{{ compact (list 1 \"\" 0 .e \"x\") }}",
 "{{ slice .l 1 }}", "{{ slice .l 1 2 }}", "{{ slice .l }}", "{{ slice .s 1 2 }}", "{{ until 5 }}", "{{ until -3 }}", "{{ untilStep 0 10 3 }}", "{{ untilStep 10 0 -4 }}", "{{ seq 5 }}", "{{ seq 2 5 }}", "{{ seq 0 2 10 }}", "{{ seq 5 2 }}", "{{ seq -3 }}",
 "{{ chunk 2 (list 1 2 3 4 5) }}", "{{ append .n 1 }}", "{{ first .n }}", "{{ mustFirst .n }}", "{{ tuple 1 2 }}", "{{ first .missing }}", "{{ rest .el }}",
 # dicts
 "{{ dict \"a\" 1 \"b\" \"x\" }}", "{{ dict \"a\" }}", "{{ dict 1 2 }}", "{{ get .m \"a\" }}", "{{ get .m \"zz\" }}", "{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ $d }}", "{{ $d := dict \"a\" 1 \"b\" 2 }}{{ $_ := unset $d \"a\" }}{{ $d }}",
 "{{ hasKey .m \"a\" }}", "{{ hasKey .m \"z\" }}", "{{ pluck \"a\" (dict \"a\" 1) (dict \"b\" 2) (dict \"a\" 3) }}", "{{ keys .m }}", "{{ keys .m .path | sortAlpha }}", "{{ pick .m \"a\" \"c\" }}", "{{ omit .m \"a\" }}", "{{ values .em }}",
 "{{ $a := dict \"x\" 1 \"n\" (dict \"p\" 1) }}{{ $b := dict \"x\" 2 \"y\" 3 \"n\" (dict \"p\" 2 \"q\" 3) }}{{ merge $a $b }}", "{{ $a := dict \"x\" 1 \"n\" (dict \"p\" 1) }}{{ $b := dict \"x\" 2 \"y\" 3 \"n\" (dict \"p\" 2 \"q\" 3) }}{{ mergeOverwrite $a $b }}",
 "{{ $a := dict \"x\" \"\" }}{{ merge $a (dict \"x\" \"filled\") }}", "{{ dig \"a\" \"b\" \"c\" \"def\" .nested }}", "{{ dig \"a\" \"zz\" \"def\" .nested }}", "{{ dig \"a\" .nested }}",
 "{{ $c := deepCopy .m }}{{ $_ := set $c \"a\" \"changed\" }}{{ .m.a }} {{ $c.a }}", "{{ $_ := set .m \"a\" \"mut\" }}{{ .m.a }}", "{{ set .missing \"a\" 1 }}",
 # encoding/hash/paths/urls
 "{{ b64enc \"hello\" }}", "{{ b64dec \"aGVsbG8=\" }}", "{{ b64dec \"!!\" }}", "{{ b32enc \"hello\" }}", "{{ b32dec \"NBSWY3DP\" }}", "{{ sha1sum \"hello\" }}", "{{ sha256sum \"hello\" }}", "{{ sha512sum \"a\" }}", "{{ adler32sum \"hello\" }}",
 "{{ base \"apps/guestbook/\" }}", "{{ dir \"apps/guestbook/x.yaml\" }}", "{{ ext \"x.tar.gz\" }}", "{{ clean \"a//b/../c/.\" }}", "{{ isAbs \"/a\" }}", "{{ base \"\" }}", "{{ dir \"x\" }}", "{{ clean \"/../a\" }}",
 "{{ urlParse \"https://user:pw@example.com:8443/a/b?q=1#frag\" }}", "{{ (urlParse .url).hostname }}", "{{ urlJoin (dict \"scheme\" \"https\" \"host\" \"h:1\" \"path\" \"/p\" \"query\" \"a=b\") }}", "{{ urlParse \"mailto:x@y\" }}",
 # semver, reflection
 "{{ semverCompare \">=1.2.0\" \"1.2.3\" }}", "{{ semverCompare \"^1.2\" \"1.9.0\" }}", "{{ semverCompare \"^1.2\" \"2.0.0\" }}", "{{ semverCompare \"~1.2.3\" \"1.2.9\" }}", "{{ semverCompare \"~1.2.3\" \"1.3.0\" }}",
 "{{ semverCompare \"1.2.x\" \"1.2.7\" }}", "{{ semverCompare \">1.0 <2.0\" \"1.5.0\" }}", "{{ semverCompare \">1.0, <2.0\" \"2.5.0\" }}", "{{ semverCompare \"<1.0 || >=3\" \"3.1.0\" }}", "{{ semverCompare \">=1.0.0\" \"1.2.0-beta\" }}",
 "{{ semverCompare \"1.0 - 2.0\" \"1.5.1\" }}", "{{ semverCompare \"^0.2.3\" \"0.3.0\" }}", "{{ semverCompare \"*\" \"4.0.0\" }}", "{{ (semver \"v1.2.3-rc.1+b5\").Minor }}", "{{ (semver \"1.2.3-rc.1+b5\").Prerelease }}", "{{ semver \"x.y\" }}", "{{ semverCompare \">= 1.2\" \"1.2.0\" }}",
 "{{ typeOf .n }}", "{{ typeOf 3 }}", "{{ typeOf .l }}", "{{ typeOf .m }}", "{{ typeOf .s }}", "{{ typeOf .t }}", "{{ typeOf .e }}", "{{ kindOf .l }}", "{{ kindOf .m }}", "{{ kindOf .e }}", "{{ kindIs \"map\" .m }}", "{{ typeIs \"string\" .s }}",
 "{{ deepEqual .l (list \"a\" \"b\" \"c\") }}", "{{ deepEqual .m .l }}",
 # dates and durations
 "{{ date \"2006-01-02\" 0 }}", "{{ dateInZone \"2006-01-02T15:04:05Z07:00\" 1700000000 \"UTC\" }}", "{{ dateInZone \"Mon Jan _2 3:04PM 06 MST\" 1700000000 \"UTC\" }}", "{{ duration 95 }}", "{{ duration 3600 }}", "{{ duration 0 }}", "{{ unixEpoch 1700000000 }}",
 # argo
 "{{ normalize \"Guest_Book/App\" }}", "{{ .name | normalize }}", "{{ normalize \"..--A.b--..\" }}", "{{ slugify \"Hello World! This is a very long name that should be truncated at word\" }}", "{{ slugify 10 \"hello wonderful world\" }}",
 "{{ slugify 10 false \"hello wonderful world\" }}", "{{ slugify \"Café_Ünïcode.name\" }}", "{{ slugify .n }}",
 # argo-style
 "{{ .path.basename }}-{{ .cluster }}", "{{ index .path.segments 1 }}", "{{ .values.image.repo }}:{{ .values.image.tag }}", "{{ if eq .cluster \"in-cluster\" }}{{ .url }}{{ else }}other{{ end }}",
 "{{ .path.path | replace \"/\" \"-\" }}", "{{ printf \"%s-%s\" .path.basename .cluster | trunc 63 | trimSuffix \"-\" }}", "{{ default 1 .values.replicas }}", "{{ .values.replicas | int }}",
]
for t in T: c(t)
for opt in ["missingkey=error", "missingkey=zero"]:
  for t in ["{{ .missing }}", "{{ .nested.a.zz }}", "{{ .missing.x }}", "{{ .e }}", "{{ .missing | default \"d\" }}", "{{ index .m \"zz\" }}", "{{ if .missing }}a{{ else }}b{{ end }}",
            "x\n  {{ .path.nope }}", "{{ with .missing }}a{{ end }}", "{{ print .missing }}", "{{ upper .missing }}", "{{ hasKey . \"missing\" }}", "{{ get . \"missing\" }}"]:
    c(t, opt)
c("{{ .a.b }}", None, {"a": {"b": 1e21}})
c("{{ range . }}{{ . }},{{ end }}", None, [3, "x", None, True])
c("{{ . }}", None, "just a string")
c("{{ .x }}", None, "just a string")
c("{{ . }}", None, None)
c("{{ .x }}", None, None)
c("{{ range $k, $v := . }}{{ $k }}:{{ $v }} {{ end }}", None, {"z": 1, "a": 2, "M": 3, "_": 4})
json.dump(cases, open('/tmp/gtcases/in.json', 'w'))
print(len(cases))
