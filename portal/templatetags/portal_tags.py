from django import template

from portal.money import format_money

register = template.Library()


@register.filter
def money(amount, currency=""):
    """``{{ invoice.total|money:invoice.currency }}`` → ``$120.00``."""
    return format_money(amount, currency)
