/* pii: see pii.h. Hand-written matchers rather than POSIX regex: the card and IBAN rules need
 * checksums anyway, and regcomp/regexec per call would cost more than the scan. */
#include "pii.h"

#include "sbuf.h"

#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_alnum(char c) { return is_digit(c) || is_alpha(c); }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }

int pii_luhn(const char *d, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return n > 0 && sum % 10 == 0;
}

int pii_iban_valid(const char *s, size_t n)
{
    if (n < 15 || n > 34 || !is_alpha(s[0]) || !is_alpha(s[1]) || !is_digit(s[2]) ||
        !is_digit(s[3]))
        return 0;
    /* Move the first four characters to the end, letters to 10..35, then mod 97 digit by
     * digit so no big integer is needed. */
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n];
        if (is_digit(c)) {
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        } else if (is_alpha(c)) {
            unsigned v = (unsigned)((c | 0x20) - 'a') + 10;
            rem = (rem * 100 + v) % 97;
        } else {
            return 0;
        }
    }
    return rem == 1;
}

static int email_local(char c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* An email starting at s[i] (s[i-1] not a local-part character): its length, or 0. */
static size_t match_email(const char *s, size_t i)
{
    size_t j = i;
    while (email_local(s[j]))
        j++;
    if (j == i || s[j] != '@')
        return 0;
    size_t k = j + 1, last_dot = 0;
    while (is_alnum(s[k]) || s[k] == '-' || s[k] == '.') {
        if (s[k] == '.')
            last_dot = k;
        k++;
    }
    while (k > j + 1 && (s[k - 1] == '.' || s[k - 1] == '-')) /* "mail me at a@b.com." */
        k--;
    last_dot = 0;
    for (size_t t = j + 1; t < k; t++)
        if (s[t] == '.')
            last_dot = t;
    if (last_dot == 0)
        return 0;
    size_t tld = 0;
    for (size_t t = last_dot + 1; t < k; t++) {
        if (!is_alpha(s[t]))
            return 0;
        tld++;
    }
    return tld >= 2 ? k - i : 0;
}

/* Digits with single spaces or dashes between them, from s[i]. Fills digits (up to cap) and
 * returns the length consumed; *nd the digit count. */
static size_t digit_run(const char *s, size_t i, const char *seps, char *digits, size_t cap,
                        size_t *nd)
{
    size_t j = i;
    *nd = 0;
    while (is_digit(s[j])) {
        if (*nd < cap)
            digits[*nd] = s[j];
        (*nd)++;
        j++;
        if (s[j] != '\0' && strchr(seps, s[j]) != NULL && is_digit(s[j + 1]))
            j++;
    }
    return j - i;
}

static size_t match_card(const char *s, size_t i)
{
    char d[32];
    size_t nd;
    size_t len = digit_run(s, i, " -", d, sizeof d, &nd);
    if (nd < 13 || nd > 19 || is_alnum(s[i + len]))
        return 0;
    return pii_luhn(d, nd) ? len : 0;
}

static size_t match_iban(const char *s, size_t i)
{
    if (!is_upper(s[i]) || !is_upper(s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3]))
        return 0;
    char buf[40];
    size_t n = 0, j = i, best = 0;
    while (n < 34 && (is_digit(s[j]) || is_upper(s[j]))) {
        buf[n++] = s[j++];
        /* An IBAN ends where its group ends; the longest valid prefix wins. */
        if (!is_digit(s[j]) && !is_upper(s[j]) && pii_iban_valid(buf, n))
            best = j - i;
        if (s[j] == ' ' && (is_digit(s[j + 1]) || is_upper(s[j + 1])))
            j++;
    }
    if (best > 0 && is_alnum(s[i + best]))
        return 0;
    return best;
}

static int iso_date_at(const char *s, size_t i)
{
    for (int k = 0; k < 10; k++) {
        char c = s[i + (size_t)k];
        if (k == 4 || k == 7) {
            if (c != '-' && c != '/')
                return 0;
        } else if (!is_digit(c)) {
            return 0;
        }
    }
    return 1;
}

static size_t match_phone(const char *s, size_t i)
{
    size_t j = i;
    int plus = 0, seps = 0;
    if (s[j] == '+') {
        plus = 1;
        j++;
    }
    if (s[j] == '(')
        j++;
    if (!is_digit(s[j]) || iso_date_at(s, j))
        return 0;
    size_t nd = 0, end = j;
    while (s[j] != '\0') {
        if (is_digit(s[j])) {
            nd++;
            j++;
            end = j;
        } else if ((s[j] == ' ' || s[j] == '-' || s[j] == '.' || s[j] == '(' || s[j] == ')') &&
                   (is_digit(s[j + 1]) || s[j + 1] == '(' ||
                    (s[j] == ')' && s[j + 1] == ' ' && is_digit(s[j + 2])))) {
            seps++;
            j++;
        } else {
            break;
        }
        if (nd > 15)
            return 0;
    }
    if (nd < 7 || is_alpha(s[end]) || (s[end] == '.' && is_digit(s[end + 1])))
        return 0;
    if (!plus && seps == 0 && nd < 10)
        return 0;
    return end - i;
}

int pii_redact(const char *in, unsigned mask, char **out, size_t *count, lore_err *err)
{
    sbuf b = SBUF_INIT;
    size_t found = 0;
    size_t n = strlen(in);
    int rc = 0;
    size_t i = 0;
    while (i < n && rc == 0) {
        char prev = i > 0 ? in[i - 1] : ' ';
        size_t len = 0;
        const char *tag = NULL;
        if ((mask & PII_EMAIL) && email_local(in[i]) && !email_local(prev) &&
            (len = match_email(in, i)) > 0)
            tag = "[email]";
        else if ((mask & PII_IBAN) && !is_alnum(prev) && (len = match_iban(in, i)) > 0)
            tag = "[iban]";
        else if ((mask & PII_CARD) && is_digit(in[i]) && !is_alnum(prev) &&
                 (len = match_card(in, i)) > 0)
            tag = "[card]";
        else if ((mask & PII_PHONE) && (is_digit(in[i]) || in[i] == '+' || in[i] == '(') &&
                 !is_alnum(prev) && prev != '+' && (len = match_phone(in, i)) > 0)
            tag = "[phone]";
        if (tag != NULL) {
            rc = sbuf_adds(&b, tag);
            found++;
            i += len;
        } else {
            rc = sbuf_addc(&b, in[i]);
            i++;
        }
    }
    if (rc != 0) {
        sbuf_free(&b);
        *out = NULL;
        return lore_errf(err, LORE_ENOMEM, "out of memory redacting %zu bytes", n);
    }
    *out = sbuf_detach(&b);
    if (count != NULL)
        *count = found;
    return 0;
}
