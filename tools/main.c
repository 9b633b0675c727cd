#include <stdio.h>

int main(void)
{
    fputs("lore: not built yet\n", stderr);
    return 1;
}
