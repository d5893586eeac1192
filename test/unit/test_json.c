/* test_json: the strict reader (JSONTestSuite-style y_/n_/i_ cases), the
 * writer, U+FFFD substitution, and a randomized write/parse round trip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "t.h"

typedef struct { const char *name; const char *text; size_t len; } jcase;
#define C(name, lit) { name, lit, sizeof(lit) - 1 }

/* y_: must parse */
static const jcase accept_cases[] = {
	C("y_array_empty", "[]"),
	C("y_array_empty_string", "[\"\"]"),
	C("y_array_arraysWithSpaces", "[[]   ]"),
	C("y_array_false", "[false]"),
	C("y_array_heterogeneous", "[null, 1, \"1\", {}]"),
	C("y_array_null", "[null]"),
	C("y_array_with_1_and_newline", "[1\n]"),
	C("y_array_with_leading_space", " [1]"),
	C("y_array_with_several_null", "[1,null,null,null,2]"),
	C("y_array_with_trailing_space", "[2] "),
	C("y_number", "[123e65]"),
	C("y_number_0e+1", "[0e+1]"),
	C("y_number_0e1", "[0e1]"),
	C("y_number_after_space", "[ 4]"),
	C("y_number_double_close_to_zero", "[-0.000000000000000000000000000000000000000000000000000000000000000000000000000001]"),
	C("y_number_int_with_exp", "[20e1]"),
	C("y_number_minus_zero", "[-0]"),
	C("y_number_negative_int", "[-123]"),
	C("y_number_negative_one", "[-1]"),
	C("y_number_real_capital_e", "[1E22]"),
	C("y_number_real_capital_e_neg_exp", "[1E-2]"),
	C("y_number_real_capital_e_pos_exp", "[1E+2]"),
	C("y_number_real_exponent", "[123e45]"),
	C("y_number_real_fraction_exponent", "[123.456e78]"),
	C("y_number_real_neg_exp", "[1e-2]"),
	C("y_number_real_pos_exponent", "[1e+2]"),
	C("y_number_simple_int", "[123]"),
	C("y_number_simple_real", "[123.456789]"),
	C("y_object", "{\"asd\":\"sdf\", \"dfg\":\"fgh\"}"),
	C("y_object_basic", "{\"asd\":\"sdf\"}"),
	C("y_object_duplicated_key", "{\"a\":\"b\",\"a\":\"c\"}"),
	C("y_object_empty", "{}"),
	C("y_object_empty_key", "{\"\":0}"),
	C("y_object_escaped_null_in_key", "{\"foo\\u0000bar\": 42}"),
	C("y_object_extreme_numbers", "{ \"min\": -1.0e+28, \"max\": 1.0e+28 }"),
	C("y_object_long_strings", "{\"x\":[{\"id\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}], \"id\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}"),
	C("y_object_simple", "{\"a\":[]}"),
	C("y_object_string_unicode", "{\"title\":\"\\u041f\\u043e\\u043b\\u0442\\u043e\\u0440\\u0430 \\u0417\\u0435\\u043c\\u043b\\u0435\\u043a\\u043e\\u043f\\u0430\" }"),
	C("y_object_with_newlines", "{\n\"a\": \"b\"\n}"),
	C("y_string_1_2_3_bytes_UTF-8_sequences", "[\"\\u0060\\u012a\\u12AB\"]"),
	C("y_string_accepted_surrogate_pair", "[\"\\uD801\\udc37\"]"),
	C("y_string_accepted_surrogate_pairs", "[\"\\ud83d\\ude39\\ud83d\\udc8d\"]"),
	C("y_string_allowed_escapes", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"),
	C("y_string_backslash_and_u_escaped_zero", "[\"\\\\u0000\"]"),
	C("y_string_backslash_doublequotes", "[\"\\\"\"]"),
	C("y_string_comments", "[\"a/*b*/c/*d//e\"]"),
	C("y_string_double_escape_a", "[\"\\\\a\"]"),
	C("y_string_double_escape_n", "[\"\\\\n\"]"),
	C("y_string_escaped_control_character", "[\"\\u0012\"]"),
	C("y_string_escaped_noncharacter", "[\"\\uFFFF\"]"),
	C("y_string_in_array", "[\"asd\"]"),
	C("y_string_in_array_with_leading_space", "[ \"asd\"]"),
	C("y_string_last_surrogates_1_and_2", "[\"\\uDBFF\\uDFFF\"]"),
	C("y_string_nbsp_uescaped", "[\"new\\u00A0line\"]"),
	C("y_string_nonCharacterInUTF-8_U+10FFFF", "[\"\xf4\x8f\xbf\xbf\"]"),
	C("y_string_nonCharacterInUTF-8_U+FFFF", "[\"\xef\xbf\xbf\"]"),
	C("y_string_null_escape", "[\"\\u0000\"]"),
	C("y_string_one-byte-utf-8", "[\"\\u002c\"]"),
	C("y_string_pi", "[\"\xcf\x80\"]"),
	C("y_string_simple_ascii", "[\"asd \"]"),
	C("y_string_space", "\" \""),
	C("y_string_three-byte-utf-8", "[\"\\u0821\"]"),
	C("y_string_two-byte-utf-8", "[\"\\u0123\"]"),
	C("y_string_u+2028_line_sep", "[\"\xe2\x80\xa8\"]"),
	C("y_string_u+2029_par_sep", "[\"\xe2\x80\xa9\"]"),
	C("y_string_uEscape", "[\"\\u0061\\u30af\\u30EA\\u30b9\"]"),
	C("y_string_unescaped_char_delete", "[\"\x7f\"]"),
	C("y_string_unicode_2", "[\"\xe2\x8d\x82\xe3\x88\xb4\xe2\x8d\x82\"]"),
	C("y_string_utf8", "[\"\xe2\x82\xac\xf0\x9d\x84\x9e\"]"),
	C("y_string_with_del_character", "[\"a\x7f" "a\"]"),
	C("y_structure_lonely_false", "false"),
	C("y_structure_lonely_int", "42"),
	C("y_structure_lonely_negative_real", "-0.1"),
	C("y_structure_lonely_null", "null"),
	C("y_structure_lonely_string", "\"asd\""),
	C("y_structure_lonely_true", "true"),
	C("y_structure_string_empty", "\"\""),
	C("y_structure_trailing_newline", "[\"a\"]\n"),
	C("y_structure_true_in_array", "[true]"),
	C("y_structure_whitespace_array", " [] "),
	C("y_all_whitespace_kinds", "\t\r\n [\t\r\n 1\t\r\n ,\t\r\n {\t\r\n \"a\"\t\r\n :\t\r\n 2\t\r\n }\t\r\n ]\t\r\n "),
};

/* n_: must be rejected */
static const jcase reject_cases[] = {
	C("n_array_1_true_without_comma", "[1 true]"),
	C("n_array_colon_instead_of_comma", "[\"\": 1]"),
	C("n_array_comma_after_close", "[\"\"],"),
	C("n_array_comma_and_number", "[,1]"),
	C("n_array_double_comma", "[1,,2]"),
	C("n_array_extra_close", "[\"x\"]]"),
	C("n_array_extra_comma", "[\"\",]"),
	C("n_array_incomplete", "[\"x\""),
	C("n_array_incomplete_invalid_value", "[x"),
	C("n_array_inner_array_no_comma", "[3[4]]"),
	C("n_array_just_comma", "[,]"),
	C("n_array_just_minus", "[-]"),
	C("n_array_missing_value", "[   , \"\"]"),
	C("n_array_newlines_unclosed", "[\"a\",\n4\n,1,"),
	C("n_array_number_and_comma", "[1,]"),
	C("n_array_star_inside", "[*]"),
	C("n_array_unclosed", "[\"\""),
	C("n_array_unclosed_trailing_comma", "[1,"),
	C("n_array_unclosed_with_object_inside", "[{}"),
	C("n_incomplete_false", "[fals]"),
	C("n_incomplete_null", "[nul]"),
	C("n_incomplete_true", "[tru]"),
	C("n_number_++", "[++1234]"),
	C("n_number_+1", "[+1]"),
	C("n_number_+Inf", "[+Inf]"),
	C("n_number_-01", "[-01]"),
	C("n_number_-1.0.", "[-1.0.]"),
	C("n_number_-2.", "[-2.]"),
	C("n_number_-NaN", "[-NaN]"),
	C("n_number_.-1", "[.-1]"),
	C("n_number_.2e-3", "[.2e-3]"),
	C("n_number_0.1.2", "[0.1.2]"),
	C("n_number_0.3e+", "[0.3e+]"),
	C("n_number_0.3e", "[0.3e]"),
	C("n_number_0.e1", "[0.e1]"),
	C("n_number_0_capital_E+", "[0E+]"),
	C("n_number_0e", "[0e]"),
	C("n_number_1.0e+", "[1.0e+]"),
	C("n_number_1.0e-", "[1.0e-]"),
	C("n_number_1_000", "[1 000.0]"),
	C("n_number_1eE2", "[1eE2]"),
	C("n_number_2.e+3", "[2.e+3]"),
	C("n_number_9.e+", "[9.e+]"),
	C("n_number_Inf", "[Inf]"),
	C("n_number_NaN", "[NaN]"),
	C("n_number_expression", "[1+2]"),
	C("n_number_hex_1_digit", "[0x1]"),
	C("n_number_infinity", "[Infinity]"),
	C("n_number_leading_zero", "[012]"),
	C("n_number_minus_space_1", "[- 1]"),
	C("n_number_neg_int_starting_with_zero", "[-012]"),
	C("n_number_real_without_fractional_part", "[1.]"),
	C("n_number_starting_with_dot", "[.123]"),
	C("n_number_with_alpha", "[1.2a-3]"),
	C("n_object_bad_value", "[\"a\", truth]"),
	C("n_object_comma_instead_of_colon", "{\"x\", null}"),
	C("n_object_double_colon", "{\"x\"::\"b\"}"),
	C("n_object_key_with_single_quotes", "{key: 'value'}"),
	C("n_object_missing_colon", "{\"a\" b}"),
	C("n_object_missing_key", "{:\"b\"}"),
	C("n_object_missing_value", "{\"a\":"),
	C("n_object_no-colon", "{\"a\""),
	C("n_object_non_string_key", "{1:1}"),
	C("n_object_single_quote", "{'a':0}"),
	C("n_object_trailing_comma", "{\"id\":0,}"),
	C("n_object_two_commas_in_a_row", "{\"a\":\"b\",,\"c\":\"d\"}"),
	C("n_object_unquoted_key", "{a: \"b\"}"),
	C("n_object_with_trailing_garbage", "{\"a\":\"b\"}#"),
	C("n_string_1_surrogate_then_escape", "[\"\\uD800\\\"]"),
	C("n_string_1_surrogate_then_escape_u", "[\"\\uD800\\u\"]"),
	C("n_string_1_surrogate_then_escape_u1", "[\"\\uD800\\u1\"]"),
	C("n_string_accentuated_char_no_quotes", "[\xc3\xa9]"),
	C("n_string_backslash_00", "[\"\\\x00\"]"),
	C("n_string_escape_x", "[\"\\x00\"]"),
	C("n_string_escaped_backslash_bad", "[\"\\\\\\\"]"),
	C("n_string_escaped_ctrl_char_tab", "[\"\\\t\"]"),
	C("n_string_escaped_emoji", "[\"\\\xf0\x9f\x8c\x80\"]"),
	C("n_string_incomplete_escape", "[\"\\\"]"),
	C("n_string_incomplete_escaped_character", "[\"\\u00A\"]"),
	C("n_string_incomplete_surrogate_escape_invalid", "[\"\\uD800\\uD800\\x\"]"),
	C("n_string_invalid_backslash_esc", "[\"\\a\"]"),
	C("n_string_invalid_unicode_escape", "[\"\\uqqqq\"]"),
	C("n_string_single_quote", "['single quote']"),
	C("n_string_unescaped_ctrl_char", "[\"a\x00" "a\"]"),
	C("n_string_unescaped_newline", "[\"new\nline\"]"),
	C("n_string_unescaped_tab", "[\"\t\"]"),
	C("n_structure_BOM", "\xef\xbb\xbf{}"),
	C("n_structure_angle_bracket_.", "<.>"),
	C("n_structure_array_trailing_garbage", "[1]x"),
	C("n_structure_array_with_extra_array_close", "[1]]"),
	C("n_structure_close_unopened_array", "1]"),
	C("n_structure_double_array", "[][]"),
	C("n_structure_end_array", "]"),
	C("n_structure_no_data", ""),
	C("n_structure_null-byte-outside-string", "[\x00]"),
	C("n_structure_object_unclosed_no_value", "{\"\":"),
	C("n_structure_single_star", "*"),
	C("n_structure_trailing_#", "{\"a\":\"b\"}#{}"),
	C("n_structure_U+2060_word_joined", "[\xe2\x81\xa0]"),
	C("n_structure_uescaped_LF_before_string", "[\\u000A\"\"]"),
	C("n_structure_unclosed_array", "[1"),
	C("n_structure_unclosed_object", "{\"asd\":\"asd\""),
	C("n_structure_whitespace_formfeed", "[\f]"),
	C("n_structure_whitespace_U+2060", "[\xe2\x81\xa0]"),
	C("n_structure_vertical_tab", "[\v1]"),
	C("n_structure_only_whitespace", " \n\t"),
	C("n_lonely_minus", "-"),
	/* i_ cases this parser decides to reject: invalid UTF-8 and lone surrogates */
	C("i_string_1st_surrogate_but_2nd_missing", "[\"\\uDADA\"]"),
	C("i_string_1st_valid_surrogate_2nd_invalid", "[\"\\uD888\\u1234\"]"),
	C("i_string_incomplete_surrogate_and_escape_valid", "[\"\\uD800\\n\"]"),
	C("i_string_incomplete_surrogates_escape_valid", "[\"\\uD800\\uD800\\n\"]"),
	C("i_string_invalid_lonely_surrogate", "[\"\\ud800\"]"),
	C("i_string_invalid_surrogate", "[\"\\ud800abc\"]"),
	C("i_string_inverted_surrogates_U+1D11E", "[\"\\uDd1e\\uD834\"]"),
	C("i_string_lone_second_surrogate", "[\"\\uDFAA\"]"),
	C("i_string_UTF-8_invalid_sequence", "[\"\xe6\x97\xa5\xd1\x88\xfa\"]"),
	C("i_string_UTF8_surrogate_U+D800", "[\"\xed\xa0\x80\"]"),
	C("i_string_invalid_utf-8", "[\"\xff\"]"),
	C("i_string_iso_latin_1", "[\"\xe9\"]"),
	C("i_string_lone_utf8_continuation_byte", "[\"\x81\"]"),
	C("i_string_not_in_unicode_range", "[\"\xf4\xbf\xbf\xbf\"]"),
	C("i_string_overlong_sequence_2_bytes", "[\"\xc0\xaf\"]"),
	C("i_string_overlong_sequence_3_bytes", "[\"\xe0\x80\xaf\"]"),
	C("i_string_overlong_sequence_6_bytes", "[\"\xfc\x83\xbf\xbf\xbf\xbf\"]"),
	C("i_string_overlong_sequence_6_bytes_null", "[\"\xfc\x80\x80\x80\x80\x80\"]"),
	C("i_string_overlong_4_bytes", "[\"\xf0\x80\x80\xaf\"]"),
	C("i_string_truncated-utf-8", "[\"\xe0\xff\"]"),
	C("i_string_truncated_at_end", "[\"\xe2\x82"),
	C("i_string_UTF-16LE_with_BOM", "\xff\xfe[\x00\"\x00\xe9\x00\"\x00]\x00"),
	C("i_string_utf16BE_no_BOM", "\x00[\x00\"\x00\xe9\x00\"\x00]"),
	C("i_structure_UTF-8_BOM_empty_object", "\xef\xbb\xbf{}"),
};

/* i_: implementation-defined, accepted here (huge numbers stay numbers) */
static const jcase accept_impl_cases[] = {
	C("i_number_double_huge_neg_exp", "[123.456e-789]"),
	C("i_number_huge_exp", "[0.4e00669999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999969999999006]"),
	C("i_number_neg_int_huge_exp", "[-1e+9999]"),
	C("i_number_pos_double_huge_exp", "[1.5e+9999]"),
	C("i_number_real_neg_overflow", "[-123123e100000]"),
	C("i_number_real_pos_overflow", "[123123e100000]"),
	C("i_number_real_underflow", "[123e-10000000]"),
	C("i_number_too_big_neg_int", "[-123123123123123123123123123123]"),
	C("i_number_too_big_pos_int", "[100000000000000000000]"),
	C("i_number_very_big_negative_int", "[-237462374673276894279832749832423479823246327846]"),
};

static json_doc *parse_s(const char *s, json_error *e) { return json_parse(s, strlen(s), e); }

static void test_suite_cases(void)
{
	json_error err;
	for (size_t i = 0; i < sizeof accept_cases / sizeof *accept_cases; i++) {
		json_doc *d = json_parse(accept_cases[i].text, accept_cases[i].len, &err);
		CHECKF(d != NULL, "%s: %s at %zu", accept_cases[i].name, err.message, err.offset);
		json_free(d);
	}
	for (size_t i = 0; i < sizeof accept_impl_cases / sizeof *accept_impl_cases; i++) {
		json_doc *d = json_parse(accept_impl_cases[i].text, accept_impl_cases[i].len, &err);
		CHECKF(d != NULL, "%s: %s", accept_impl_cases[i].name, err.message);
		CHECK(d && json_at(json_root(d), 0)->type == JSON_NUMBER);
		json_free(d);
	}
	for (size_t i = 0; i < sizeof reject_cases / sizeof *reject_cases; i++) {
		/* copy to an exact-size heap block so reading past len is caught by tools */
		char *copy = malloc(reject_cases[i].len + 1);
		memcpy(copy, reject_cases[i].text, reject_cases[i].len);
		json_doc *d = json_parse(copy, reject_cases[i].len, &err);
		CHECKF(d == NULL, "%s accepted", reject_cases[i].name);
		CHECKF(d != NULL || (err.message[0] && err.offset <= reject_cases[i].len),
		       "%s: bad error (%s, %zu)", reject_cases[i].name, err.message, err.offset);
		json_free(d);
		free(copy);
	}
	printf("suite: %zu y_, %zu i_ accepted, %zu n_/i_ rejected\n",
	       sizeof accept_cases / sizeof *accept_cases,
	       sizeof accept_impl_cases / sizeof *accept_impl_cases,
	       sizeof reject_cases / sizeof *reject_cases);
}

static void test_values(void)
{
	json_error err;
	json_doc *d = parse_s("{\"a\":1,\"b\":[true,false,null],\"c\":\"x\\u00e9\\ud83d\\ude00\",\"a\":-2.5e3,"
	                      "\"big\":9223372036854775807,\"small\":-9223372036854775808,"
	                      "\"over\":9223372036854775808,\"neg0\":-0,\"frac\":1.0,\"z\":\"a\\u0000b\"}", &err);
	CHECKF(d != NULL, "%s", err.message);
	if (!d)
		return;
	const json_value *r = json_root(d);
	CHECK(r->type == JSON_OBJECT && r->len == 10);
	const json_value *a = json_get(r, "a");
	CHECK(a && a->type == JSON_NUMBER && a->u.number == -2500 && !a->is_integer);  /* last wins */
	const json_value *b = json_get(r, "b");
	CHECK(json_is(b, JSON_ARRAY) && b->len == 3);
	CHECK(json_at(b, 0)->type == JSON_TRUE && json_at(b, 1)->type == JSON_FALSE && json_at(b, 2)->type == JSON_NULL);
	CHECK(json_at(b, 3) == NULL && json_at(r, 0) == NULL);
	const json_value *c = json_get(r, "c");
	CHECK(c && c->len == 7 && memcmp(c->u.string, "x\xc3\xa9\xf0\x9f\x98\x80", 8) == 0);
	const json_value *big = json_get(r, "big");
	CHECK(big && big->is_integer && big->integer == INT64_MAX);
	const json_value *small = json_get(r, "small");
	CHECK(small && small->is_integer && small->integer == INT64_MIN && small->u.number == -9223372036854775808.0);
	const json_value *over = json_get(r, "over");
	CHECK(over && !over->is_integer && over->u.number == 9223372036854775808.0);
	const json_value *neg0 = json_get(r, "neg0");
	CHECK(neg0 && neg0->is_integer && neg0->integer == 0 && signbit(neg0->u.number));
	const json_value *frac = json_get(r, "frac");
	CHECK(frac && !frac->is_integer && frac->u.number == 1.0);
	const json_value *z = json_get(r, "z");
	CHECK(z && z->len == 3 && memcmp(z->u.string, "a\0b", 4) == 0);
	CHECK(json_get(r, "missing") == NULL && json_get(NULL, "a") == NULL && json_get(b, "a") == NULL);
	CHECK(r->u.children[0].key_len == 1 && strcmp(r->u.children[0].key, "a") == 0);
	json_free(d);

	/* every escape decodes */
	d = parse_s("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\uD834\\uDD1E\"", &err);
	CHECK(d && json_root(d)->len == 1 + 1 + 1 + 5 + 1 + 2 + 3 + 4 &&
	      memcmp(json_root(d)->u.string, "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e", 19) == 0);
	json_free(d);

	/* numbers */
	d = parse_s("[0, -1, 1e2, 1E-2, 0.5, 123456789012345678, 1e400, -1e400, 1e-400, 3.141592653589793]", &err);
	CHECK(d != NULL);
	if (d) {
		const json_value *r2 = json_root(d);
		CHECK(json_at(r2, 0)->is_integer && json_at(r2, 0)->integer == 0);
		CHECK(json_at(r2, 1)->is_integer && json_at(r2, 1)->integer == -1);
		CHECK(!json_at(r2, 2)->is_integer && json_at(r2, 2)->u.number == 100);
		CHECK(json_at(r2, 3)->u.number == 0.01);
		CHECK(json_at(r2, 4)->u.number == 0.5);
		CHECK(json_at(r2, 5)->integer == 123456789012345678LL &&
		      json_at(r2, 5)->u.number == 123456789012345678.0);
		CHECK(isinf(json_at(r2, 6)->u.number) && json_at(r2, 6)->u.number > 0);
		CHECK(isinf(json_at(r2, 7)->u.number) && json_at(r2, 7)->u.number < 0);
		CHECK(json_at(r2, 8)->u.number == 0);
		CHECK(json_at(r2, 9)->u.number == 3.141592653589793);
	}
	json_free(d);

	/* a number with 100000 digits */
	size_t n = 100000;
	char *huge = malloc(n + 2);
	huge[0] = '[';
	memset(huge + 1, '7', n);
	d = json_parse(huge, n + 1, &err);
	CHECK(d == NULL && strstr(err.message, "end of input"));
	huge[n + 1] = ']';
	d = json_parse(huge, n + 2, &err);
	CHECK(d && !json_at(json_root(d), 0)->is_integer && isinf(json_at(json_root(d), 0)->u.number));
	json_free(d);
	free(huge);
}

static void test_errors(void)
{
	json_error err;
	CHECK(parse_s("[1, 2", &err) == NULL && err.offset == 5 && strstr(err.message, "end of input"));
	CHECK(parse_s("{\"a\" 1}", &err) == NULL && err.offset == 5 && strstr(err.message, "':'"));
	CHECK(parse_s("[01]", &err) == NULL && err.offset == 1 && strstr(err.message, "leading zero"));
	CHECK(parse_s("[\"ab\x01\"]", &err) == NULL && err.offset == 4 && strstr(err.message, "control"));
	CHECK(parse_s("[\"ab\xc0\xaf\"]", &err) == NULL && err.offset == 4 && strstr(err.message, "UTF-8"));
	CHECK(parse_s("\"\\ud800\"", &err) == NULL && err.offset == 1 && strstr(err.message, "surrogate"));
	CHECK(parse_s("[1] 2", &err) == NULL && err.offset == 4 && strstr(err.message, "after"));
	CHECK(parse_s("\"abc", &err) == NULL && err.offset == 0 && strstr(err.message, "unterminated"));
	CHECK(parse_s("[1,x]", &err) == NULL && err.offset == 3 && strstr(err.message, "'x'"));
	CHECK(json_parse(NULL, 0, &err) == NULL);
	CHECK(parse_s("[1,,]", NULL) == NULL);   /* err may be NULL */
}

static void test_depth(void)
{
	char text[2 * (JSON_MAX_DEPTH + 1) + 1];
	json_error err;
	for (int depth = JSON_MAX_DEPTH - 1; depth <= JSON_MAX_DEPTH + 1; depth++) {
		memset(text, '[', (size_t)depth);
		memset(text + depth, ']', (size_t)depth);
		json_doc *d = json_parse(text, 2 * (size_t)depth, &err);
		if (depth <= JSON_MAX_DEPTH) {
			CHECKF(d != NULL, "depth %d: %s", depth, err.message);
		} else {
			CHECKF(d == NULL && strstr(err.message, "deep") && err.offset == JSON_MAX_DEPTH,
			       "depth %d", depth);
		}
		json_free(d);
	}
	/* objects count too; and a very deep hostile input fails fast, no stack overflow */
	size_t n = 1000000;
	char *deep = malloc(n);
	for (size_t i = 0; i < n; i += 5)
		memcpy(deep + i, "{\"a\":", 5);
	CHECK(json_parse(deep, n, &err) == NULL && strstr(err.message, "deep"));
	memset(deep, '[', n);
	CHECK(json_parse(deep, n, &err) == NULL && strstr(err.message, "deep"));
	free(deep);
}

static void check_escape(const char *in, size_t n, const char *want, const char *what)
{
	buf b = BUF_INIT;
	json_escape(&b, in, n);
	CHECKF(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "%s: got %s", what, b.data);
	buf_free(&b);
}
#define ESC(lit, want) check_escape(lit, sizeof(lit) - 1, want, #lit)

static void test_escape(void)
{
	ESC("", "\"\"");
	ESC("plain text", "\"plain text\"");
	ESC("q\"b\\s/", "\"q\\\"b\\\\s/\"");
	ESC("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	ESC("\x00\x01\x1f\x7f", "\"\\u0000\\u0001\\u001f\x7f\"");
	ESC("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	ESC("\xe2\x80\xa8", "\"\xe2\x80\xa8\"");
	/* invalid UTF-8 -> U+FFFD, WHATWG maximal subparts */
	ESC("a\xff" "b", "\"a\xef\xbf\xbd" "b\"");
	ESC("\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	ESC("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");                 /* overlong: 2 */
	ESC("\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  /* E0 80: 3 */
	ESC("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  /* surrogate: 3 */
	ESC("\xe2\x82", "\"\xef\xbf\xbd\"");                               /* truncated: 1 */
	ESC("\xe2\x82x", "\"\xef\xbf\xbdx\"");
	ESC("\xf0\x9f\x98", "\"\xef\xbf\xbd\"");
	ESC("\xf0\x9f\x98\"", "\"\xef\xbf\xbd\\\"\"");
	ESC("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  /* > U+10FFFF */
	ESC("\xf8\x88\x80\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	ESC("\xc3\xc3\xa9", "\"\xef\xbf\xbd\xc3\xa9\"");
	/* the WHATWG example: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
	ESC("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
	    "\"a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd" "d\"");
	/* the output always parses */
	for (int c = 0; c < 256; c++) {
		char in[3] = {'x', (char)c, 'y'};
		buf b = BUF_INIT;
		json_escape(&b, in, 3);
		json_doc *d = json_parse(b.data, b.len, NULL);
		CHECKF(d != NULL, "byte %02x", c);
		json_free(d);
		buf_free(&b);
	}
}

static void test_writer(void)
{
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_object_begin(&w);
	jw_key(&w, "language");
	jw_string(&w, "python");
	jw_key(&w, "args");
	jw_array_begin(&w);
	jw_string_n(&w, "a\nb", 3);
	jw_int(&w, -42);
	jw_uint(&w, UINT64_MAX);
	jw_int(&w, INT64_MIN);
	jw_double(&w, 0.1);
	jw_double(&w, 1.5e300);
	jw_double(&w, NAN);
	jw_double(&w, 3.0);
	jw_double(&w, -0.0);
	jw_bool(&w, true);
	jw_bool(&w, false);
	jw_null(&w);
	jw_array_begin(&w);
	jw_array_end(&w);
	jw_object_begin(&w);
	jw_object_end(&w);
	jw_raw(&w, "{\"x\":1}", 7);
	jw_array_end(&w);
	jw_key(&w, "q\"");
	jw_object_begin(&w);
	jw_key(&w, "k");
	jw_null(&w);
	jw_object_end(&w);
	jw_object_end(&w);
	const char *want = "{\"language\":\"python\",\"args\":[\"a\\nb\",-42,18446744073709551615,"
	                   "-9223372036854775808,0.1,1.5e+300,null,3,-0,true,false,null,[],{},{\"x\":1}],"
	                   "\"q\\\"\":{\"k\":null}}";
	CHECKF(b.len == strlen(want) && strcmp(b.data, want) == 0, "got %s", b.data);
	CHECK(w.depth == 0);
	json_doc *d = json_parse(b.data, b.len, NULL);
	CHECK(d != NULL);
	json_free(d);
	/* doubles read back exactly */
	double samples[] = {0.1, 1.0 / 3, 2.5e-308, 1.7976931348623157e308, 123456.789, -9.87654321e-12, 1e21};
	for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
		buf_reset(&b);
		jw_init(&w, &b);
		jw_double(&w, samples[i]);
		d = json_parse(b.data, b.len, NULL);
		CHECKF(d && json_root(d)->u.number == samples[i], "%s", b.data);
		json_free(d);
	}
	buf_free(&b);
}

/* ---- randomized round trip ---- */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A random tree written with jw; the expected parse is checked by a
 * parallel walk (same seed regenerates the same tree). */
static void gen_string(char *s, size_t *n)
{
	static const char *pieces[] = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f",
	                               "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe2\x80\xa8", "\x7f"};
	size_t count = next_rand() % 12, len = 0;
	for (size_t i = 0; i < count; i++) {
		const char *p = pieces[next_rand() % (sizeof pieces / sizeof *pieces)];
		if (next_rand() % 40 == 0)
			s[len++] = 0;
		memcpy(s + len, p, strlen(p));
		len += strlen(p);
	}
	s[len] = 0;
	*n = len;
}

static void gen_write(jw *w, int depth)
{
	unsigned kind = (unsigned)(next_rand() % (depth < 6 ? 8 : 6));
	char s[128];
	size_t n;
	switch (kind) {
	case 0: jw_null(w); break;
	case 1: jw_bool(w, next_rand() & 1); break;
	case 2: jw_int(w, (int64_t)next_rand()); break;
	case 3: {
		double v = (double)(int64_t)next_rand() / (double)(1 + next_rand() % 100000);
		jw_double(w, v);
		break;
	}
	case 4: case 5: gen_string(s, &n); jw_string_n(w, s, n); break;
	case 6: {
		size_t count = next_rand() % 5;
		jw_array_begin(w);
		for (size_t i = 0; i < count; i++)
			gen_write(w, depth + 1);
		jw_array_end(w);
		break;
	}
	default: {
		size_t count = next_rand() % 5;
		jw_object_begin(w);
		for (size_t i = 0; i < count; i++) {
			char key[8];
			snprintf(key, sizeof key, "k%zu", i);
			jw_key(w, key);
			gen_write(w, depth + 1);
		}
		jw_object_end(w);
	}
	}
}

static bool gen_check(const json_value *v, int depth)
{
	unsigned kind = (unsigned)(next_rand() % (depth < 6 ? 8 : 6));
	char s[128];
	size_t n;
	switch (kind) {
	case 0: return v->type == JSON_NULL;
	case 1: return v->type == ((next_rand() & 1) ? JSON_TRUE : JSON_FALSE);
	case 2: {
		int64_t want = (int64_t)next_rand();
		return v->type == JSON_NUMBER && v->is_integer && v->integer == want;
	}
	case 3: {
		double want = (double)(int64_t)next_rand() / (double)(1 + next_rand() % 100000);
		return v->type == JSON_NUMBER && v->u.number == want;
	}
	case 4: case 5:
		gen_string(s, &n);
		return v->type == JSON_STRING && v->len == n && memcmp(v->u.string, s, n) == 0 && v->u.string[n] == 0;
	case 6: {
		size_t count = next_rand() % 5;
		if (v->type != JSON_ARRAY || v->len != count)
			return false;
		for (size_t i = 0; i < count; i++)
			if (!gen_check(json_at(v, i), depth + 1))
				return false;
		return true;
	}
	default: {
		size_t count = next_rand() % 5;
		if (v->type != JSON_OBJECT || v->len != count)
			return false;
		for (size_t i = 0; i < count; i++) {
			char key[8];
			snprintf(key, sizeof key, "k%zu", i);
			const json_value *m = &v->u.children[i];
			if (m->key_len != strlen(key) || strcmp(m->key, key) != 0 || json_get(v, key) != m)
				return false;
			if (!gen_check(m, depth + 1))
				return false;
		}
		return true;
	}
	}
}

static void test_round_trip(void)
{
	int ok = 0, rounds = 2000;
	buf b = BUF_INIT;
	for (int i = 0; i < rounds; i++) {
		uint64_t seed = rng;
		buf_reset(&b);
		jw w;
		jw_init(&w, &b);
		gen_write(&w, 0);
		json_error err;
		json_doc *d = json_parse(b.data, b.len, &err);
		rng = seed;
		if (d && gen_check(json_root(d), 0))
			ok++;
		else
			printf("round trip failed: %s (%s)\n", b.data, d ? "mismatch" : err.message);
		json_free(d);
		/* the same text with every prefix cut off must be rejected (or be a lone number) */
		if (i % 50 == 0 && b.len > 1) {
			for (size_t cut = 0; cut < b.len; cut++) {
				json_doc *p = json_parse(b.data, cut, NULL);
				if (p && json_root(p)->type != JSON_NUMBER) {
					printf("prefix %zu of %s accepted\n", cut, b.data);
					ok--;
				}
				json_free(p);
			}
		}
	}
	CHECKF(ok == rounds, "%d of %d round trips", ok, rounds);
	buf_free(&b);
}

/* Random mutations of valid documents: never a crash, never a read past
 * len (the ASan build checks), and anything accepted writes back to text
 * that parses to the same text again (a fixed point). */
static void test_mutations(void)
{
	const char *seeds[] = {
		"{\"language\":\"python\",\"version\":\"3.x\",\"files\":[{\"name\":\"a.py\",\"content\":\"print(\\\"hi\\\")\\n\"}],"
		"\"args\":[\"1\",\"\\u00e9\"],\"run_timeout\":3000,\"x\":[1.5e3,-0,true,false,null,{}]}",
		"[\"\\ud83d\\ude00\xc3\xa9\",[[[]]],{\"a\":{\"b\":[1,2,3]}},123456789012345678901234567890]",
	};
	int accepted = 0, rounds = 30000, bad = 0;
	buf once = BUF_INIT, twice = BUF_INIT;
	for (int i = 0; i < rounds; i++) {
		const char *seed = seeds[i % 2];
		size_t n = strlen(seed);
		char *t = malloc(n + 8);
		memcpy(t, seed, n);
		int edits = 1 + (int)(next_rand() % 4);
		for (int e = 0; e < edits && n > 0; e++) {
			size_t at = next_rand() % n;
			static const char interesting[] = "\"\\{}[]:,0-.eE \x80\xc3\xff\x00ux";
			switch (next_rand() % 3) {
			case 0: t[at] = interesting[next_rand() % (sizeof interesting - 1)]; break;
			case 1: memmove(t + at, t + at + 1, n - at - 1); n--; break;
			default:
				if (n + 1 < strlen(seed) + 8) {
					memmove(t + at + 1, t + at, n - at);
					t[at] = interesting[next_rand() % (sizeof interesting - 1)];
					n++;
				}
			}
		}
		char *exact = malloc(n ? n : 1);
		memcpy(exact, t, n);
		free(t);
		json_error err;
		json_doc *d = json_parse(exact, n, &err);
		if (d) {
			accepted++;
			jw w;
			buf_reset(&once);
			jw_init(&w, &once);
			jw_value(&w, json_root(d));
			json_doc *d2 = json_parse(once.data, once.len, NULL);
			buf_reset(&twice);
			if (d2) {
				jw_init(&w, &twice);
				jw_value(&w, json_root(d2));
			}
			if (!d2 || once.len != twice.len || memcmp(once.data, twice.data, once.len) != 0)
				bad++;
			json_free(d2);
			json_free(d);
		} else if (err.offset > n || !err.message[0]) {
			bad++;
		}
		free(exact);
	}
	buf_free(&once);
	buf_free(&twice);
	CHECKF(bad == 0, "%d bad of %d mutations", bad, rounds);
	CHECKF(accepted > 100 && accepted < rounds, "%d accepted", accepted);
	printf("mutations: %d of %d accepted, all fixed points\n", accepted, rounds);
}

/* Every number parses to exactly what strtod gives (the fast path must agree). */
static void test_number_exactness(void)
{
	int bad = 0, total = 20000;
	for (int i = 0; i < total; i++) {
		char text[64];
		size_t n = 0;
		if (next_rand() & 1)
			text[n++] = '-';
		int int_digits = 1 + (int)(next_rand() % 18);
		text[n++] = (char)('1' + next_rand() % 9);
		for (int d = 1; d < int_digits; d++)
			text[n++] = (char)('0' + next_rand() % 10);
		if (next_rand() % 3) {
			text[n++] = '.';
			int frac = 1 + (int)(next_rand() % 10);
			for (int d = 0; d < frac; d++)
				text[n++] = (char)('0' + next_rand() % 10);
		}
		if (next_rand() % 2)
			n += (size_t)snprintf(text + n, 16, "e%d", (int)(next_rand() % 70) - 35);
		text[n] = 0;
		json_doc *d = json_parse(text, n, NULL);
		double want = strtod(text, NULL);
		if (!d || memcmp(&json_root(d)->u.number, &want, sizeof want) != 0) {
			if (bad++ < 5)
				printf("number %s: got %.17g want %.17g\n", text, d ? json_root(d)->u.number : 0, want);
		}
		json_free(d);
	}
	CHECKF(bad == 0, "%d of %d numbers differ from strtod", bad, total);
	const char *edge[] = {"0.0", "-0.0", "0e5", "-0e-5", "0.000000000000000000000000001", "9007199254740993",
	                      "9007199254740992.0", "1e22", "1e23", "123456789012345678901234567890e-10",
	                      "4.9406564584124654e-324", "2.2250738585072011e-308", "1.7976931348623157e308",
	                      "0.1", "0.30000000000000004", "1E-22", "5e-22", "17976931348623157e292"};
	for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
		json_doc *d = json_parse(edge[i], strlen(edge[i]), NULL);
		double want = strtod(edge[i], NULL);
		CHECKF(d && memcmp(&json_root(d)->u.number, &want, sizeof want) == 0, "%s", edge[i]);
		json_free(d);
	}
}

/* A number keeps its text exactly as sent (execute passes args on as
 * written), in a document where strings and numbers share the arena. */
static void test_number_text(void)
{
	const char *src = "[3, 3.50, -1e3, \"s\", 0, -0, 1E+2, 12345678901234567890123, \"t\", 2.0e-0]";
	const char *want[] = {"3", "3.50", "-1e3", NULL, "0", "-0", "1E+2", "12345678901234567890123", NULL, "2.0e-0"};
	json_doc *d = json_parse(src, strlen(src), NULL);
	CHECK(d != NULL);
	if (!d)
		return;
	const json_value *r = json_root(d);
	CHECK(r->len == 10);
	for (size_t i = 0; i < 10; i++) {
		const json_value *v = json_at(r, i);
		if (want[i])
			CHECKF(v->type == JSON_NUMBER && v->text && v->len == strlen(want[i]) && !strcmp(v->text, want[i]),
			       "element %zu: %s", i, v->text ? v->text : "(null)");
		else
			CHECKF(v->type == JSON_STRING && v->text == NULL && v->len == 1, "element %zu", i);
	}
	CHECK(!strcmp(json_at(r, 3)->u.string, "s") && !strcmp(json_at(r, 8)->u.string, "t"));
	CHECK(json_at(r, 1)->u.number == 3.5 && json_at(r, 2)->u.number == -1000);
	json_free(d);
	/* a lone number at the root, and types named for messages */
	d = json_parse("  42.000 ", 9, NULL);
	CHECK(d && !strcmp(json_root(d)->text, "42.000") && json_root(d)->len == 6);
	json_free(d);
	d = json_parse("true", 4, NULL);
	CHECK(d && json_root(d)->text == NULL);
	json_free(d);
	CHECK(!strcmp(json_type_name(JSON_NULL), "null") && !strcmp(json_type_name(JSON_OBJECT), "an object"));
	CHECK(!strcmp(json_type_name(JSON_ARRAY), "an array") && !strcmp(json_type_name(JSON_TRUE), "a boolean"));
}

static void test_utf8_check(void)
{
	size_t n;
	CHECK(json_utf8_check("hello \xc3\xa9", 8, &n) == UTF8_VALID && n == 8);
	CHECK(json_utf8_check("abc\xe2\x82", 5, &n) == UTF8_TRUNCATED && n == 3);
	CHECK(json_utf8_check("abc\xe2\x82x", 6, &n) == UTF8_INVALID && n == 3);
	CHECK(json_utf8_check("abcdefghijk\xff", 12, &n) == UTF8_INVALID && n == 11);
	CHECK(json_utf8_check("\xed\xa0", 2, &n) == UTF8_INVALID && n == 0);   /* surrogate start: never valid */
	CHECK(json_utf8_check("\xf0\x9f", 2, &n) == UTF8_TRUNCATED && n == 0);
	CHECK(json_utf8_check("", 0, &n) == UTF8_VALID && n == 0);
}

int main(void)
{
	test_suite_cases();
	test_values();
	test_errors();
	test_depth();
	test_escape();
	test_writer();
	test_round_trip();
	test_number_exactness();
	test_mutations();
	test_utf8_check();
	test_number_text();
	return t_done();
}
