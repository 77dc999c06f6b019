"""Go's text/template subset (notifiers/gotemplate): outputs are what Go itself prints.

Expected values are Go's (checked against go1.26 text/template with the same data); where
Go has a quirk (1e+06 for a million as a float64, byte lengths, strings padded with zeros,
the column of a chained field) the test pins it so kube-eventer users see the same body
they saw before. Where we differ on purpose (a missing field is an error, not
``<no value>``), the test says so.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifiers.gotemplate import GoTemplateError, GoTime, parse
from notifiers.gotemplate import _exec as executor

SHANGHAI = ZoneInfo("Asia/Shanghai")
WHEN = GoTime(datetime(2026, 12, 6, 13, 4, 5, tzinfo=SHANGHAI))

# Exactly as the kube-eventer guides give it; the \n are JSON escapes in the template's text.
KUBE_EVENTER = (
    r'{"msgtype": "text","text": {"content": "集群事件告警\n事件级别: {{ .Type }}\n'
    r"名称空间: {{ .InvolvedObject.Namespace }}\n事件类型: {{ .InvolvedObject.Kind }}\n"
    r"事件对象: {{ .InvolvedObject.Name }}\n事件原因: {{ .Reason }}\n发生时间: {{ .LastTimestamp }}\n"
    r'详细信息: {{ .Message }}"}}'
)
MESSAGE = 'Back-off pulling image "registry/app:v2"\nC:\\data\tdone'


def event(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Type": "Warning",
        "Reason": "BackOff",
        "Message": MESSAGE,
        "Count": 3,
        "InvolvedObject": {"Kind": "Pod", "Namespace": "shop", "Name": "web-1"},
        "LastTimestamp": WHEN,
        "Labels": {"app": "web"},
        "List": [1, 2, 3],
        "Map": {"b": 2, "a": 1},
        "Empty": "",
        "Nil": None,
    }
    return base | overrides


def render(source: str, data: object | None = None, *, json_strings: bool = False) -> str:
    return parse(source).execute(event() if data is None else data, json_strings=json_strings)


def test_kube_eventer_template_renders_valid_json_with_the_message_intact() -> None:
    body = parse(KUBE_EVENTER).execute(event())
    content = orjson.loads(body)["text"]["content"]
    assert content == (
        "集群事件告警\n事件级别: Warning\n名称空间: shop\n事件类型: Pod\n事件对象: web-1\n"
        f"事件原因: BackOff\n发生时间: 2026-12-06 13:04:05 +0800 CST\n详细信息: {MESSAGE}"
    )
    # Only the message was escaped: the template's own \n escapes are untouched.
    assert body.count(r"\n") == 8
    assert '\\"registry/app:v2\\"' in body
    assert r"C:\\data\tdone" in body


@given(st.text())
def test_any_message_inside_a_json_string_round_trips(message: str) -> None:
    body = parse('{"m": "{{ .Message }}", "n": {{ .Count }}}').execute(event(Message=message))
    assert orjson.loads(body) == {"m": message, "n": 3}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a value outside a JSON string is printed as it is: a number stays a number
        ('{"count": {{ .Count }}, "type": "{{ .Type }}"}', '{"count": 3, "type": "Warning"}'),
        ('{"raw": {{ printf "%q" .Type }}}', '{"raw": "Warning"}'),
        # an escaped quote in the template's text does not end the string
        ('{"m": "say \\"{{ .Message }}\\""}', None),
        # html and js escape first, then the JSON string escapes their output too
        ('{"m": "{{ html .Message }}"}', None),
        ('{"m": "{{ js .Message }}"}', None),
    ],
)
def test_json_string_context(source: str, expected: str | None) -> None:
    body = parse(source).execute(event())
    orjson.loads(body)
    if expected is not None:
        assert body == expected


def test_json_strings_off_prints_values_as_they_are() -> None:
    assert parse('"{{ .Message }}"').execute(event(), json_strings=False) == f'"{MESSAGE}"'


def test_escaping_functions_keep_their_own_escapes_inside_json() -> None:
    message = '<b>"x"</b>'
    assert orjson.loads(parse('{"m": "{{ html .Message }}"}').execute(event(Message=message))) == {
        "m": "&lt;b&gt;&#34;x&#34;&lt;/b&gt;"
    }
    assert orjson.loads(parse('{"m": "{{ js .Message }}"}').execute(event(Message=message))) == {
        "m": '\\u003Cb\\u003E\\"x\\"\\u003C/b\\u003E'
    }


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # text, trim markers, comments
        ("plain {text}", "plain {text}"),
        ("a  {{- .Type -}}  b", "aWarningb"),
        ("a \n\t{{- .Type }}\n b", "aWarning\n b"),
        ("{{ .Type -}}\n\n   b", "Warningb"),
        ("a {{- /* gone */ -}} b", "ab"),
        ("a{{/* gone */}}b", "ab"),
        ("{{-3}}", "-3"),
        ("{{\n  .Type\n}}", "Warning"),
        # fields, variables, pipelines
        ("{{ .InvolvedObject.Name }}", "web-1"),
        ("{{ .List | len }}", "3"),
        ("{{ $x := .Reason }}{{ $x }}", "BackOff"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ("{{ $o := .InvolvedObject }}{{ $o.Kind }}", "Pod"),
        ("{{ with .InvolvedObject }}{{ .Name }} in {{ $.Type }}{{ end }}", "web-1 in Warning"),
        ('{{ .Type | printf "%s!" }}', "Warning!"),
        ('{{ "a" | printf "%s-%s" "b" }}', "b-a"),
        ('{{ printf "%d items" (len .List) }}', "3 items"),
        ("{{ (.InvolvedObject).Kind }}", "Pod"),
        # literals
        ('{{ "a\\tb\\u00e9\\x41" }}', "a\tbéA"),
        ("{{ `a\\tb` }}", "a\\tb"),
        ("{{ 0x1F }} {{ 0o17 }} {{ 1_000 }} {{ 'a' }} {{ -5 }}", "31 15 1000 97 -5"),
        ("{{ 1.5 }} {{ 2.0 }} {{ 1e3 }} {{ 0.1 }}", "1.5 2 1000 0.1"),
        ("{{ true }} {{ false }}", "true false"),
        # printing as fmt's %v
        ("{{ .List }} {{ .Map }} {{ .Nil }} {{ .Empty }}|", "[1 2 3] map[a:1 b:2] <nil> |"),
        ("{{ .Value }}", "map[k:[x <nil> true 1.5]]"),
        ("{{ .Big }} {{ .Mid }} {{ .Tiny }} {{ .Small }}", "1e+06 123456 1e-05 0.0001"),
        # if / else if / else, Go's truth
        ("{{ if .Empty }}y{{ else }}n{{ end }}", "n"),
        ("{{ if .Nil }}y{{ else if .List }}list{{ else }}n{{ end }}", "list"),
        ("{{ if 0 }}y{{ else if 0.0 }}y{{ else if .Map }}map{{ end }}", "map"),
        (
            "{{ if .LastTimestamp }}a time is a struct, always true{{ end }}",
            "a time is a struct, always true",
        ),
        ("{{ with .Empty }}y{{ else with .Reason }}{{ . }}{{ else }}n{{ end }}", "BackOff"),
        ("{{ with $v := .Count }}{{ $v }}{{ . }}{{ end }}", "33"),
        # range
        ("{{ range .List }}<{{ . }}>{{ end }}", "<1><2><3>"),
        ("{{ range $i, $v := .List }}{{ $i }}={{ $v }} {{ end }}", "0=1 1=2 2=3 "),
        ("{{ range $k, $v := .Map }}{{ $k }}:{{ $v }} {{ end }}", "a:1 b:2 "),
        ("{{ range $v := .Map }}{{ $v }}{{ end }}", "12"),
        ("{{ range .Nil }}x{{ else }}none{{ end }}", "none"),
        ("{{ range .Strings }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range .List }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ . }}{{ end }}", "13"),
        ("{{ range .List }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}", "1"),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ range .List }}{{ $.Type }}{{ end }}", "WarningWarningWarning"),
        # define, template, block
        (
            '{{ define "obj" }}{{ .Kind }}/{{ .Name }}{{ end }}{{ template "obj" .InvolvedObject }}',
            "Pod/web-1",
        ),
        ('{{ block "tail" . }}[{{ .Reason }}]{{ end }}', "[BackOff]"),
        ('{{ template "t" }}{{ define "t" }}no data{{ end }}', "no data"),
        # and, or, not: operands come back, evaluation stops early
        ('{{ or .Empty "default" }}', "default"),
        ("{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 .Empty }}|", "0 2 |"),
        ("{{ or .Type .Missing }} {{ and .Empty .Missing }}|", "Warning |"),
        ('{{ "z" | or 0 }} {{ not .Empty }} {{ not .List }}', "z true false"),
        # comparisons
        ('{{ eq .Type "Normal" "Warning" }} {{ eq .Type "Normal" }}', "true false"),
        (
            '{{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 2.5 }} {{ ge "b" "a" }}',
            "true true true false true",
        ),
        ("{{ eq .Nil nil }} {{ eq .Type nil }}", "true false"),
        # len, index, slice
        ('{{ len "集群" }} {{ len .List }} {{ len .Map }}', "6 3 2"),
        (
            '{{ index .List 1 }} {{ index .Map "b" }} {{ index .Labels "app" }} {{ index .Labels "none" }}|',
            "2 2 web |",
        ),
        ('{{ index "abc" 0 }}', "97"),
        ('{{ slice "abcdef" 1 3 }} {{ slice .List 1 }} {{ slice .List }}', "bc [2 3] [1 2 3]"),
        # print family and escapers
        ('{{ print 1 2 "a" 3 "b" "c" }}', "1 2a3bc"),
        ('{{ println "a" 1 }}', "a 1\n"),
        ("{{ html \"<a href='x'>&\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;"),
        ('{{ js "it\'s <b>=&" }}', "it\\'s \\u003Cb\\u003E\\u003D\\u0026"),
        ('{{ urlquery "a b&c=d/é" }}', "a+b%26c%3Dd%2F%C3%A9"),
        ("{{ html 1 2 }}", "1 2"),
    ],
)
def test_go_semantics(source: str, expected: str) -> None:
    data = event(
        Value={"k": ["x", None, True, 1.5]},
        Big=1e6,
        Mid=123456.0,
        Tiny=0.00001,
        Small=0.0001,
        Strings=[],
    )
    assert render(source, data) == expected


@pytest.mark.parametrize(
    ("form", "args", "expected"),
    [
        ("%s|%v|%d", ["x", [1, "a"], 42], "x|[1 a]|42"),
        ("%5d|%-5d|%05d|%+d|% d", [42, 42, -42, 5, 5], "   42|42   |-0042|+5| 5"),
        ("%x|%X|%#x|%o|%b|%x", [255, 255, 255, 8, 5, -255], "ff|FF|0xff|10|101|-ff"),
        ("%x|% x|%X", ["hi", "hi", "é"], "6869|68 69|C3A9"),
        ("%q|%q|%#q|%q", ['a"b\n', "é", "back`", 65], '"a\\"b\\n"|"é"|"back`"|\'A\''),
        ("%f|%.2f|%8.3f|%6.2f|%e|%g|%G", [3.14159, 3.14159, 3.14159, -1.5, 1234.5678, 1234.5678, 1e-7], None),
        ("%t|%v|%%|%T|%T|%T", [True, False, 1.5, "s", None], "true|false|%|float64|string|<nil>"),
        ("%-10s|%10s|%.3s|%c|%U", ["ab", "ab", "abcdef", 65, 0x1F600], "ab        |        ab|abc|A|U+1F600"),
        ("%v|%s", [1e6, None], "1e+06|%!s(<nil>)"),
        ("%d|%s|%d", ["x", 5], "%!d(string=x)|%!s(int=5)|%!d(MISSING)"),
        ("%d", [1, "a", None], "1%!(EXTRA string=a, <nil>)"),
        ("%d|%.1f", [3.0, 2], "%!d(float64=3)|%!f(int=2)"),
        ("%s|%v", [WHEN, WHEN], "2026-12-06 13:04:05 +0800 CST|2026-12-06 13:04:05 +0800 CST"),
        ("%*d|%.*f", [4, 7, 1, 2.25], "   7|2.2"),
        ("%05s|%-05s|%05q|%5.2T|%.*d", ["ab", "ab", "ab", 1, -2, 7], '000ab|ab   |0"ab"|   in|%!(BADPREC)7'),
        ("%#U|%U|%x", [0x1F600, -1, [10, 11]], "U+1F600 '😀'|U+FFFFFFFFFFFFFFFF|[a b]"),
    ],
)
def test_printf_verbs(form: str, args: list[object], expected: str | None) -> None:
    if expected is None:  # floats: Go rounds as C does, half to even on the exact binary value
        expected = "3.141590|3.14|   3.142| -1.50|1.234568e+03|1234.5678|1E-07"
    source = "{{ printf .Form " + " ".join(f"(index .Args {i})" for i in range(len(args))) + " }}"
    assert render(source, {"Form": form, "Args": args}) == expected


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("{{ . }}", WHEN, "2026-12-06 13:04:05 +0800 CST"),
        ("{{ .String }}", WHEN, "2026-12-06 13:04:05 +0800 CST"),
        ("{{ . }}", GoTime(datetime(2026, 12, 6, 5, 4, 5, tzinfo=UTC)), "2026-12-06 05:04:05 +0000 UTC"),
        (
            "{{ . }}",
            GoTime(datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)),
            "2026-01-02 03:04:05.12 +0000 UTC",
        ),
        (
            "{{ . }}",
            GoTime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))),
            "2026-01-02 03:04:05 -0330 -0330",
        ),
        ('{{ .Format "2006-01-02 15:04:05" }}', WHEN, "2026-12-06 13:04:05"),
        ('{{ .Time.Format "2006-01-02 15:04:05" }}', WHEN, "2026-12-06 13:04:05"),
        ('{{ .Format "2006-01-02T15:04:05Z07:00" }}', WHEN, "2026-12-06T13:04:05+08:00"),
        ('{{ .UTC.Format "2006-01-02T15:04:05Z07:00" }}', WHEN, "2026-12-06T05:04:05Z"),
        ('{{ .Format "Mon Jan _2 15:04:05 MST 2006" }}', WHEN, "Sun Dec  6 13:04:05 CST 2026"),
        ('{{ .Format "Monday, 02-Jan-06 3:04PM -0700" }}', WHEN, "Sunday, 06-Dec-26 1:04PM +0800"),
        ('{{ .Format "January 2 03:04:05.000 pm -07 002" }}', WHEN, "December 6 01:04:05.000 pm +08 340"),
        ('{{ .Format "15:04:05.999|.000|,000" }}', WHEN, "13:04:05|.000|,000"),
        ('{{ "2006" | .Format }}', WHEN, "2026"),
        ("{{ .UTC }}", WHEN, "2026-12-06 05:04:05 +0000 UTC"),
        ("{{ .Local }}", WHEN, "2026-12-06 13:04:05 +0800 CST"),
        ("{{ .Unix }}", WHEN, "1796533445"),
        ('{{ . | printf "%v" }}', WHEN, "2026-12-06 13:04:05 +0800 CST"),
    ],
)
def test_times_print_and_format_as_go(source: str, value: GoTime, expected: str) -> None:
    assert render(source, value) == expected


def test_a_time_needs_a_zone() -> None:
    with pytest.raises(ValueError, match="aware"):
        GoTime(datetime(2026, 12, 6, 13, 4, 5))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{"a": "{{ .Type }"}', 'body:1: unexpected "}" in operand'),
        ("line 1\nline 2\n{{ if .Type }}open", "body:3: unexpected EOF"),
        ("x\n{{ foo .Type }}", 'body:2: function "foo" not defined'),
        ("{{ $x }}", 'body:1: undefined variable "$x"'),
        ("{{ end }}", "body:1: unexpected {{end}}"),
        ('{{ "abc }}', "body:1: unterminated quoted string"),
        ("{{ .Type \n", "body:2: unclosed action started at body:1"),
        ("{{ break }}", "body:1: {{break}} outside {{range}}"),
        ("{{ (1 }}", "body:1: unclosed left paren"),
        ("{{ .Type | 1 }}", "body:1: non executable command in pipeline stage 2"),
        ("{{ if }}{{ end }}", "body:1: missing value for if"),
        ("{{ .A#B }}", "body:1: bad character U+0023 '#'"),
        ('{{ "x\\q" }}', "body:1: invalid syntax"),
        ("{{ 3x }}", 'body:1: bad number syntax: "3x"'),
        ("{{/* open", "body:1: unclosed comment"),
        (
            '{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}',
            'body:1: multiple definition of template "a"',
        ),
        ("{{ range $a, $b, $c := .List }}{{ end }}", "body:1: too many declarations in range"),
        ("{{ call .F }}", 'body:1: function "call" not defined'),
    ],
)
def test_parse_errors_name_the_line_as_go_does(source: str, message: str) -> None:
    with pytest.raises(GoTemplateError) as caught:
        parse(source)
    assert str(caught.value) == message


def test_parse_errors_carry_the_template_name() -> None:
    with pytest.raises(GoTemplateError, match=r"^wecom:1: unexpected"):
        parse("{{ .Type }", name="wecom")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # a typo'd field is an error naming it, not "<no value>"; Go places a chain at its last part
        (
            "line 1\n  {{ .InvolvedObject.Nme }}",
            'body:2:20: executing "body" at <.InvolvedObject.Nme>: can\'t evaluate field Nme',
        ),
        ('{"a": "{{ .Foo }}"}', 'body:1:10: executing "body" at <.Foo>: can\'t evaluate field Foo'),
        (
            "{{ .Nil.Name }}",
            'body:1:7: executing "body" at <.Nil.Name>: nil pointer evaluating interface {}.Name',
        ),
        (
            "{{ .Type.Len }}",
            'body:1:8: executing "body" at <.Type.Len>: can\'t evaluate field Len in type string',
        ),
        (
            "{{ index .List 5 }}",
            'body:1:3: executing "body" at <index .List 5>: error calling index: index out of range: 5',
        ),
        (
            "{{ .LastTimestamp.Format }}",
            'body:1:17: executing "body" at <.LastTimestamp.Format>: '
            "wrong number of args for Format: want 1 got 0",
        ),
        (
            "{{ eq .Count 3.0 }}",
            'body:1:3: executing "body" at <eq .Count 3.0>: '
            "error calling eq: incompatible types for comparison: int and float64",
        ),
        (
            "{{ len .Count }}",
            'body:1:3: executing "body" at <len .Count>: error calling len: len of type int',
        ),
        ("{{ printf 3 }}", 'body:1:10: executing "body" at <3>: expected string; found 3'),
        ("{{ .Type 1 }}", 'body:1:3: executing "body" at <.Type>: Type is not a method but has arguments'),
        ("{{ nil }}", 'body:1:3: executing "body" at <nil>: nil is not a command'),
        (
            "{{ range .Type }}{{ end }}",
            'body:1:9: executing "body" at <.Type>: range can\'t iterate over Warning',
        ),
        (
            '{{ template "nope" }}',
            'body:1:12: executing "body" at <{{template "nope"}}>: template "nope" not defined',
        ),
        (
            '{{ define "obj" }}{{ .Nme }}{{ end }}{{ template "obj" .InvolvedObject }}',
            'body:1:21: executing "obj" at <.Nme>: can\'t evaluate field Nme',
        ),
    ],
)
def test_execution_errors_locate_and_word_as_go_does(source: str, message: str) -> None:
    with pytest.raises(GoTemplateError) as caught:
        parse(source).execute(event())
    assert str(caught.value) == message


def test_data_that_is_not_a_struct_is_an_error_not_a_traceback() -> None:
    with pytest.raises(GoTemplateError, match="can't evaluate field Type in type string"):
        parse("{{ .Type }}").execute("just a string")


def test_runaway_output_is_bounded() -> None:
    template = parse("{{ range .List }}{{ $.Chunk }}{{ end }}")
    with pytest.raises(GoTemplateError, match="output exceeds 1048576 bytes"):
        template.execute({"List": list(range(20)), "Chunk": "x" * 100_000})


def test_runaway_range_is_bounded() -> None:
    template = parse("{{ range .L }}{{ range $.L }}{{ range $.L }}{{ end }}{{ end }}{{ end }}")
    with pytest.raises(GoTemplateError, match="range exceeds 100000 iterations"):
        template.execute({"L": list(range(100))})


def test_runaway_recursion_is_bounded() -> None:
    template = parse('{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}')
    with pytest.raises(GoTemplateError, match=r"exceeded maximum template depth \(50\)"):
        template.execute({})


def test_recursion_that_prints_nothing_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """2**30 calls, each within the depth limit, without output or range: the step limit stops it."""
    monkeypatch.setattr(executor, "MAX_STEPS", 20_000)  # the real limit takes a second to reach
    template = parse(
        '{{ define "twice" }}{{ if . }}{{ template "twice" (slice . 1) }}{{ template "twice" (slice . 1) }}'
        '{{ end }}{{ end }}{{ template "twice" .L }}'
    )
    with pytest.raises(GoTemplateError, match="execution exceeds 20000 steps"):
        template.execute({"L": list(range(30))})


def test_deep_nesting_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(GoTemplateError, match="max expression depth exceeded"):
        parse("{{ if 1 }}" * 200 + "{{ end }}" * 200)
    with pytest.raises(GoTemplateError, match="max expression depth exceeded"):
        parse("{{ " + "(" * 200 + "1" + ")" * 200 + " }}")


def test_fields_lists_what_the_template_reads_from_the_event() -> None:
    template = parse(
        KUBE_EVENTER
        + '{{ .LastTimestamp.Format "15:04" }}{{ with .Source }}{{ .Host }}{{ end }}'
        + "{{ range .Related }}{{ .Ignored }}{{ $.Series.Count }}{{ end }}"
        + '{{ define "o" }}{{ .UID }}{{ end }}{{ template "o" .InvolvedObject }}'
    )
    assert template.fields == {
        "Type",
        "Reason",
        "Message",
        "LastTimestamp",
        "InvolvedObject",
        "InvolvedObject.Namespace",
        "InvolvedObject.Kind",
        "InvolvedObject.Name",
        "InvolvedObject.UID",
        "Source",
        "Source.Host",
        "Related",
        "Series.Count",
    }
    assert template.name == "body"


_WORDS = st.sampled_from(
    [
        *(".Type", ".List", ".Map", ".Nil", ".LastTimestamp.Format", "$", "$x :=", "|", "(", ")", "."),
        *('"s"', "'c'", "1", "1.5", "nil", "if", "else", "end", "range", "with", "break", 'template "t"'),
        *("printf", "index", "slice", "len", "eq", "lt", "and", "or", "print", "js", '"%d %5.2f %q %x"'),
    ]
)
_ACTIONS = st.lists(_WORDS, min_size=1, max_size=5).map(lambda words: "{{ " + " ".join(words) + " }}")


@given(st.lists(st.one_of(_ACTIONS, st.sampled_from(['"', "\\", "x", "\n"])), max_size=10).map("".join))
def test_any_template_renders_or_raises_a_go_template_error(source: str) -> None:
    """No KeyError, TypeError or traceback reaches the user, whatever the template."""
    with contextlib.suppress(GoTemplateError):
        parse(source).execute(event())
