// SPDX-License-Identifier: GPL-2.0
/*
 * hmmctl output: the same calls print indented text for people or build
 * one JSON object (--json) for scripts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hmmctl.h"

#define HC_MAX_DEPTH	8

static int depth;		/* JSON nesting */
static int tdepth;		/* text indentation */
static bool first[HC_MAX_DEPTH];
static bool titled[HC_MAX_DEPTH];

static void indent(void)
{
	printf("%*s", tdepth * 2, "");
}

/* Print @s as a JSON string literal on @f. */
void hc_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Start a JSON member: the comma, the key and the colon. */
static void key(const char *k)
{
	if (!first[depth])
		fputc(',', stdout);
	first[depth] = false;
	hc_json_string(stdout, k);
	fputc(':', stdout);
}

void hc_out_begin(const char *command)
{
	depth = 0;
	tdepth = 0;
	first[0] = true;
	if (!hc_opt.json)
		return;
	fputc('{', stdout);
	hc_out_str("command", NULL, command);
}

/**
 * hc_out_end() - finish the output of a command
 * @code: its exit code; nonzero adds the failure to the output
 *
 * Return: @code.
 */
int hc_out_end(int code)
{
	const char *why = hc_failure();

	while (depth > 0)
		hc_out_obj_end();
	if (code && why[0])
		fprintf(stderr, "hmmctl: %s\n", why);
	if (hc_opt.json) {
		key("ok");
		fputs(code ? "false" : "true", stdout);
		key("exit");
		printf("%d", code);
		if (code) {
			key("error");
			hc_json_string(stdout, why);
		}
		fputs("}\n", stdout);
	}
	fflush(stdout);
	return code;
}

/*
 * Open a nested object; in text, if @title is given, a heading line with
 * the members indented under it.
 */
void hc_out_obj(const char *k, const char *title)
{
	if (hc_opt.json) {
		key(k);
		fputc('{', stdout);
	} else if (title) {
		indent();
		printf("%s\n", title);
	}
	if (depth < HC_MAX_DEPTH - 1)
		depth++;
	first[depth] = true;
	titled[depth] = title;
	if (title)
		tdepth++;
}

void hc_out_obj_end(void)
{
	if (depth == 0)
		return;
	if (titled[depth])
		tdepth--;
	depth--;
	if (hc_opt.json)
		fputc('}', stdout);
}

void hc_out_str(const char *k, const char *label, const char *val)
{
	if (hc_opt.json) {
		key(k);
		hc_json_string(stdout, val);
	} else if (label) {
		indent();
		printf("%-27s %s\n", label, val);
	}
}

void hc_out_num(const char *k, const char *label, long long val)
{
	if (hc_opt.json) {
		key(k);
		printf("%lld", val);
	} else if (label) {
		indent();
		printf("%-27s %lld\n", label, val);
	}
}

void hc_out_bool(const char *k, const char *label, bool val)
{
	if (hc_opt.json) {
		key(k);
		fputs(val ? "true" : "false", stdout);
	} else if (label) {
		indent();
		printf("%-27s %s\n", label, val ? "yes" : "no");
	}
}

/* A member given as ready JSON, or in text as lines to indent. */
void hc_out_raw(const char *k, const char *json, const char *text)
{
	const char *nl;

	if (hc_opt.json) {
		key(k);
		fputs(json, stdout);
		return;
	}
	while (*text) {
		nl = strchr(text, '\n');
		if (!nl)
			nl = text + strlen(text);
		indent();
		printf("%.*s\n", (int)(nl - text), text);
		text = *nl ? nl + 1 : nl;
	}
}

/* Narration: a line of text output; nothing in JSON. */
void hc_say(const char *fmt, ...)
{
	va_list ap;

	if (hc_opt.json)
		return;
	indent();
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}
