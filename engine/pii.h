/* pii: masks personal data in text before it leaves for a model.
 *
 * Kinds, each switchable (a bit in `mask`):
 *   PII_EMAIL  local@domain.tld                                   -> "[email]"
 *   PII_CARD   13 to 19 digits, spaces or dashes between groups,
 *              that pass the Luhn check                            -> "[card]"
 *   PII_IBAN   country code, check digits, 11 to 30 letters/digits
 *              (spaces allowed), that pass the ISO 13616 mod-97 check -> "[iban]"
 *   PII_PHONE  7 to 15 digits with an optional leading "+" and separators (space - . ( )),
 *              written like a phone number: a "+", a separator, or 10 or more digits;
 *              ISO dates (2024-01-31) and digit runs glued to letters (E1042) are left alone
 *                                                                  -> "[phone]"
 * Checks run in that order at each position, so a Luhn-valid card is a card, not a phone.
 * The checksums keep order numbers, amounts and error codes readable to the model.
 *
 * Ownership: pii_redact returns a new string in *out (caller frees). */
#ifndef LORE_PII_H
#define LORE_PII_H

#include <stddef.h>

#include "err.h"

enum { PII_EMAIL = 1, PII_CARD = 2, PII_PHONE = 4, PII_IBAN = 8, PII_ALL = 15 };

/* *count (may be NULL) is the number of pieces masked. 0 or LORE_ENOMEM. */
int pii_redact(const char *in, unsigned mask, char **out, size_t *count, lore_err *err);

/* 1 when the digits (ASCII '0'..'9', n of them) pass the Luhn check. */
int pii_luhn(const char *digits, size_t n);
/* 1 when the IBAN (letters and digits only, no spaces) passes the mod-97 check. */
int pii_iban_valid(const char *iban, size_t n);

#endif
