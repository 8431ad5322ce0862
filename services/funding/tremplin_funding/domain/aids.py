"""Individual aids (DOMAIN.md §Funding): a monthly amount for at most N months, one payment per month."""


class AidCapReached(Exception):
    pass


class AlreadyPaidThatMonth(Exception):
    pass


def check_aid_payment(paid_months: list[str], month: str, max_months: int) -> None:
    if month in paid_months:
        raise AlreadyPaidThatMonth(f"the aid of {month} is already paid")
    if len(paid_months) >= max_months:
        raise AidCapReached(f"the aid is capped at {max_months} monthly payments, all made")
